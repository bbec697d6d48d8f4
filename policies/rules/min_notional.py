"""Deny trades too small to be worth their fees (typically after a resize)."""

from __future__ import annotations

from pydantic import Field

from policies.base import PolicyContext, Rule, RuleConfig, RuleResult, register


class MinNotionalConfig(RuleConfig):
    min_usd: float = Field(ge=0, description="Smallest notional worth trading")


@register
class MinNotional(Rule):
    id = "min_notional"
    config_model = MinNotionalConfig
    config: MinNotionalConfig

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        if notional_usd >= self.config.min_usd:
            return None
        return RuleResult(
            "deny", f"notional {notional_usd:,.2f} < min {self.config.min_usd:,.2f}"
        )
