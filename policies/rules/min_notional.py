"""Deny trades too small to be worth their fees (typically after a resize), except the sale of
all that is left of a position, or of the proposing strategy's own lot of it.

A remainder below the minimum (what a liquidity resize leaves, or a long drawdown) could
otherwise never be sold: every exit would be denied, and a strategy that enters only when flat
would never trade again. Selling all of it sheds risk, so it passes, and so does the sale of
all of the strategy's own lot (strategies run together each keep their own: one's remainder
sits beside another's holding); a partial sell or a buy that small is still denied, and so is a sell judged without the portfolio (it cannot be known
to close the position). ``sell_remainder = false`` denies such sales too (on a chain a swap
worth cents still pays full gas).

The rule judges the notional it is given, so it belongs after every rule that resizes (the
shipped policy has it last): a rule after it could still cut a whole sale down to a part.
"""

from __future__ import annotations

from pydantic import Field

from core.models import Side
from policies.base import (
    PORTFOLIO,
    PolicyContext,
    Rule,
    RuleConfig,
    RuleResult,
    register,
)


class MinNotionalConfig(RuleConfig):
    min_usd: float = Field(ge=0, description="Smallest notional worth trading")
    sell_remainder: bool = Field(default=True, description="Let the sale of all that is left "
                                 "of a position pass whatever its size")


@register
class MinNotional(Rule):
    id = "min_notional"
    config_model = MinNotionalConfig
    config: MinNotionalConfig

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        if notional_usd >= self.config.min_usd:
            return None
        if self.config.sell_remainder and _sells_all_that_is_left(context, notional_usd):
            return None
        return RuleResult(
            "deny", f"notional {notional_usd:,.2f} < min {self.config.min_usd:,.2f}"
        )


def _sells_all_that_is_left(context: PolicyContext, notional_usd: float) -> bool:
    """Whether the proposal, at ``notional_usd`` (after earlier resizes), sells the whole of
    the asset's position, or the whole of its strategy's own lot of it."""
    proposal = context.proposal
    if (proposal.side is not Side.SELL or proposal.quantity is None or notional_usd <= 0
            or PORTFOLIO in context.lacking):
        return False
    held = context.portfolio.positions.get(proposal.asset)
    if held is None or held.quantity <= 0:
        return False
    selling = proposal.quantity * min(1.0, notional_usd / proposal.notional_usd)
    own = context.own_quantity
    return selling >= held.quantity or (own is not None and 0 < own <= selling)
