"""Deny any proposal about an asset that is not on the allowlist."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from policies.base import PolicyContext, Rule, RuleConfig, RuleResult, register


class AssetAllowlistConfig(RuleConfig):
    assets: tuple[str, ...] = Field(description="Assets the treasury may trade")

    @field_validator("assets")
    @classmethod
    def _symbols(cls, assets: tuple[str, ...]) -> tuple[str, ...]:
        """As the feeds name them: "btc" passed the check, then matched nothing and denied all."""
        bad = [a for a in assets if not re.fullmatch(r"[A-Z0-9]{1,16}", a)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: expected upper-case symbols like BTC")
        return assets


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
