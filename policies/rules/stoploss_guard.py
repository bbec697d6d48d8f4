"""Lock new entries for a while after too many stop-outs in a short time.

A stop-out is a closed trade that lost at least ``min_loss_share`` of its entry notional (with
the default 0, any losing trade). When ``trade_limit`` of them close within ``lookback_s``, new
entries are locked for ``lock_s`` after the last of them. Exits always pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from policies.base import (
    EntryLock,
    PolicyContext,
    RuleConfig,
    RuleResult,
    hours,
    register,
)
from policies.state import ClosedTrade, PolicyState


class StoplossGuardConfig(RuleConfig):
    trade_limit: int = Field(ge=1, description="Stop-outs within lookback_s that trigger the lock")
    lookback_s: float = Field(gt=0, description="Window the stop-outs are counted in, in seconds")
    lock_s: float = Field(gt=0, description="How long entries stay locked after the last one")
    min_loss_share: float = Field(
        default=0.0, ge=0, lt=1, description="Loss (share of entry notional) that makes a stop-out"
    )
    per_asset: bool = Field(
        default=False, description="Count and lock per asset instead of across the treasury"
    )


@register
class StoplossGuard(EntryLock):
    id = "stoploss_guard"
    config_model = StoplossGuardConfig
    config: StoplossGuardConfig

    @property
    def lookback_s(self) -> float:
        return self.config.lookback_s + self.config.lock_s

    def is_stop_out(self, trade: ClosedTrade) -> bool:
        return trade.pnl_usd < 0 and trade.return_share <= -self.config.min_loss_share

    def locked_until(self, state: PolicyState, asset: str | None) -> tuple[datetime, int] | None:
        """When the lock ends (and how many stop-outs set it), or None when there is none."""
        c = self.config
        stop_outs = sorted(t.closed_at for t in state.trades_since(state.ago(self.lookback_s),
                                                                   asset=asset)
                           if self.is_stop_out(t))
        window, lock = timedelta(seconds=c.lookback_s), timedelta(seconds=c.lock_s)
        found = None
        for i, at in enumerate(stop_outs):
            if at + lock <= state.now:
                continue  # a lock set here would be over
            count = sum(1 for other in stop_outs[: i + 1] if other > at - window)
            if count >= c.trade_limit:
                found = (at + lock, count)
        return found

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        asset = context.proposal.asset if self.config.per_asset else None
        lock = self.locked_until(context.history, asset)
        if lock is None:
            return None
        until, count = lock
        scope = f"{asset} " if asset else ""
        return RuleResult("deny", f"{count} {scope}stop-outs within {hours(self.config.lookback_s)}: "
                                  f"new entries locked until {until.isoformat()}")
