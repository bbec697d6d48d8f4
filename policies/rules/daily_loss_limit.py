"""Lock new entries for the rest of the UTC day once today's realised losses reach a limit.

Today is the UTC day of the policy's clock; the loss is minus the realised PnL (fees included)
of every trade closed since midnight. Exits always pass.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from policies.base import EntryLock, PolicyContext, RuleConfig, RuleResult, register

DAY_S = 86_400.0


class DailyLossLimitConfig(RuleConfig):
    max_loss_usd: float | None = Field(default=None, gt=0, description="Largest realised loss a day")
    max_loss_share: float | None = Field(
        default=None, gt=0, le=1,
        description="Largest realised loss a day, as a share of the equity the day started with",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> DailyLossLimitConfig:
        if self.max_loss_usd is None and self.max_loss_share is None:
            raise ValueError("set max_loss_usd, max_loss_share or both")
        return self


@register
class DailyLossLimit(EntryLock):
    id = "daily_loss_limit"
    config_model = DailyLossLimitConfig
    config: DailyLossLimitConfig

    @property
    def lookback_s(self) -> float:
        return DAY_S

    def limit_usd(self, day_start_equity_usd: float) -> float:
        limits = [self.config.max_loss_usd]
        if self.config.max_loss_share is not None:
            limits.append(self.config.max_loss_share * day_start_equity_usd)
        return min(limit for limit in limits if limit is not None)

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        state = context.history
        loss = -sum(trade.pnl_usd for trade in state.trades_since(state.day_start))
        limit = self.limit_usd(state.day_start_equity_usd)
        if loss < limit:
            return None
        return RuleResult("deny", f"realised loss today {loss:,.2f} >= daily limit {limit:,.2f}: "
                                  "no new entries until midnight UTC")
