"""Lock new entries once the last hour holds too many trades.

A trade is an order sent in the last hour (filled or in flight) or one the policy allowed that
still waits for people, so two proposals cannot each pass a limit they break together. Exits
always pass (and count).
"""

from __future__ import annotations

from pydantic import Field

from policies.base import EntryLock, PolicyContext, RuleConfig, RuleResult, register

HOUR_S = 3600.0


class MaxTradesPerHourConfig(RuleConfig):
    max_trades: int = Field(ge=1, description="Most trades (sent or awaiting approval) in an hour")


@register
class MaxTradesPerHour(EntryLock):
    id = "max_trades_per_hour"
    config_model = MaxTradesPerHourConfig
    config: MaxTradesPerHourConfig

    @property
    def lookback_s(self) -> float:
        return HOUR_S

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        state = context.history
        sent = state.orders_since(state.ago(HOUR_S))
        if sent + state.awaiting_approval < self.config.max_trades:
            return None
        return RuleResult("deny", f"{sent} orders sent in the last hour and "
                                  f"{state.awaiting_approval} awaiting approval "
                                  f"(max {self.config.max_trades} an hour)")
