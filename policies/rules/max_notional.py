"""Deny a single trade above a notional cap."""

from __future__ import annotations

from pydantic import Field

from policies.base import PolicyContext, Rule, RuleConfig, RuleResult, register


class MaxNotionalConfig(RuleConfig):
    max_usd: float = Field(gt=0, description="Largest notional of one trade")


@register
class MaxNotional(Rule):
    id = "max_notional"
    config_model = MaxNotionalConfig
    config: MaxNotionalConfig

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        if notional_usd <= self.config.max_usd:
            return None
        return RuleResult(
            "deny", f"notional {notional_usd:,.2f} > max {self.config.max_usd:,.2f} per trade"
        )
