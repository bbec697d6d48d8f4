"""Deny any proposal about an asset that is not on the allowlist."""

from __future__ import annotations

from pydantic import Field

from policies.base import PolicyContext, Rule, RuleConfig, RuleResult, register


class AssetAllowlistConfig(RuleConfig):
    assets: tuple[str, ...] = Field(description="Assets the treasury may trade")


@register
class AssetAllowlist(Rule):
    id = "asset_allowlist"
    config_model = AssetAllowlistConfig
    config: AssetAllowlistConfig

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        asset = context.proposal.asset
        if asset in self.config.assets:
            return None
        return RuleResult("deny", f"{asset} is not on the allowlist")
