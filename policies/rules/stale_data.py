"""Deny any proposal made on a snapshot that is too old (or from the future) by the policy clock.

The snapshot's time is its latest bar's open time; "now" is the PolicyState's clock: the bar's
own time when the governor replays data (backtests, paper on files or synthetic bars), the wall
clock when the feed is live. So ``max_age_s`` must allow one bar length plus the feed's delay.
"""

from __future__ import annotations

from pydantic import Field

from policies.base import HISTORY, PolicyContext, Rule, RuleConfig, RuleResult, register


class StaleDataConfig(RuleConfig):
    max_age_s: float = Field(gt=0, description="Oldest snapshot (by its bar time) to act on")
    max_ahead_s: float = Field(
        default=60, ge=0, description="How far a snapshot may be ahead of the clock (skew)"
    )


@register
class StaleData(Rule):
    id = "stale_data"
    config_model = StaleDataConfig
    config: StaleDataConfig
    needs = frozenset({HISTORY})

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        now, taken = context.history.now, context.snapshot.ts
        age_s = (now - taken).total_seconds()
        if age_s > self.config.max_age_s:
            return RuleResult("deny", f"snapshot of {taken.isoformat()} is {age_s:,.0f}s old at "
                                      f"{now.isoformat()} (max {self.config.max_age_s:g}s)")
        if -age_s > self.config.max_ahead_s:
            return RuleResult("deny", f"snapshot of {taken.isoformat()} is {-age_s:,.0f}s ahead "
                                      f"of the clock {now.isoformat()} "
                                      f"(max {self.config.max_ahead_s:g}s)")
        return None
