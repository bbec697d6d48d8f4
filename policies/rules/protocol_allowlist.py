"""Deny a deposit into a protocol that is not on the allowlist (withdrawals always pass)."""

from __future__ import annotations

from pydantic import Field

from core.models import Deposit, Proposal
from policies.base import PolicyContext, Rule, RuleConfig, RuleResult, register


class ProtocolAllowlistConfig(RuleConfig):
    protocols: tuple[str, ...] = Field(
        description="Protocols the treasury may deposit into, e.g. aave-v3"
    )


@register
class ProtocolAllowlist(Rule):
    """Withdrawals pass: taking money out of a protocol only lowers the exposure to it."""

    id = "protocol_allowlist"
    config_model = ProtocolAllowlistConfig
    config: ProtocolAllowlistConfig

    def applies_to(self, proposal: Proposal) -> bool:
        return isinstance(proposal.action, Deposit)

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        action = context.proposal.action
        assert isinstance(action, Deposit)
        if action.protocol in self.config.protocols:
            return None
        return RuleResult("deny", f"protocol {action.protocol} is not on the allowlist")
