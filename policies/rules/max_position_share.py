"""Resize a buy so the asset's position stays within a share of equity (buys in flight count)."""

from __future__ import annotations

from pydantic import Field

from core.models import Proposal, Side
from policies.base import (
    PORTFOLIO,
    RESERVED,
    PolicyContext,
    Rule,
    RuleConfig,
    RuleResult,
    register,
)


class MaxPositionShareConfig(RuleConfig):
    max_share: float = Field(gt=0, le=1, description="Largest share of equity in one asset")
    except_assets: tuple[str, ...] = Field(
        default=(), description="Assets this rule leaves alone, e.g. lending receipts (AUSDC), "
        "whose exposure is the protocol's (protocol_allowlist)",
    )


@register
class MaxPositionShare(Rule):
    id = "max_position_share"
    config_model = MaxPositionShareConfig
    config: MaxPositionShareConfig
    needs = frozenset({PORTFOLIO, RESERVED})

    def applies_to(self, proposal: Proposal) -> bool:
        return proposal.side is Side.BUY and proposal.asset not in self.config.except_assets

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        proposal, portfolio = context.proposal, context.portfolio
        equity = portfolio.equity_usd
        held = portfolio.position_value(proposal.asset) + context.reserved(proposal.asset)
        room = self.config.max_share * equity - held
        if notional_usd <= room:
            return None
        if room <= 0:
            share = f"{held / equity:.1%} of equity" if equity > 0 else f"{held:,.2f} with no equity"
            return RuleResult(
                "deny",
                f"{proposal.asset} already at {share} (max {self.config.max_share:.0%})",
            )
        return RuleResult(
            "resize",
            f"resized to {room:,.2f} to keep {proposal.asset} within "
            f"{self.config.max_share:.0%} of equity",
            notional_usd=room,
        )
