"""After a losing trade, no new entries (of that asset, by default) for a cooling-off period.

Exits always pass.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from policies.base import (
    EntryLock,
    PolicyContext,
    RuleConfig,
    RuleResult,
    hours,
    register,
)


class LossCooldownConfig(RuleConfig):
    cooldown_s: float = Field(gt=0, description="Seconds without new entries after a loss")
    per_asset: bool = Field(
        default=True, description="Only the asset that lost cools down (false: every asset)"
    )


@register
class LossCooldown(EntryLock):
    id = "loss_cooldown"
    config_model = LossCooldownConfig
    config: LossCooldownConfig

    @property
    def lookback_s(self) -> float:
        return self.config.cooldown_s

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        state = context.history
        asset = context.proposal.asset if self.config.per_asset else None
        start = state.ago(self.config.cooldown_s)  # a loss exactly cooldown_s ago is over
        losses = [t for t in state.trades_since(start, asset=asset)
                  if t.pnl_usd < 0 and t.closed_at > start]
        if not losses:
            return None
        last = max(losses, key=lambda t: t.closed_at)
        until = last.closed_at + timedelta(seconds=self.config.cooldown_s)
        return RuleResult("deny", f"{last.asset} lost {-last.pnl_usd:,.2f} at "
                                  f"{last.closed_at.isoformat()}: cooling down "
                                  f"{hours(self.config.cooldown_s)}, until {until.isoformat()}")
