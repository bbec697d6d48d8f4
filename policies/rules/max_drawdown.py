"""Halt new entries while equity is too far below its peak.

The peak is the highest equity marked since the run started. The halt lasts until equity
recovers above the line (or a person starts a new run, which starts a new peak). Exits pass.
"""

from __future__ import annotations

from pydantic import Field

from policies.base import (
    HISTORY,
    PORTFOLIO,
    EntryLock,
    PolicyContext,
    RuleConfig,
    RuleResult,
    register,
)


class MaxDrawdownConfig(RuleConfig):
    max_drawdown_share: float = Field(
        gt=0, lt=1, description="Halt entries at this fall from peak equity (0.25 = 25%)"
    )


@register
class MaxDrawdown(EntryLock):
    id = "max_drawdown"
    config_model = MaxDrawdownConfig
    config: MaxDrawdownConfig
    needs = frozenset({HISTORY, PORTFOLIO})

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        equity = context.portfolio.equity_usd
        peak = max(context.history.equity_peak_usd, equity)
        if peak <= 0:
            return RuleResult("deny", f"no equity to trade with ({equity:,.2f})")
        drawdown = 1 - equity / peak
        if drawdown < self.config.max_drawdown_share:
            return None
        return RuleResult("deny", f"drawdown {drawdown:.1%} from peak {peak:,.2f} >= "
                                  f"{self.config.max_drawdown_share:.0%}: entries halted")
