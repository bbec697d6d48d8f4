"""Resize a buy of a volatile asset so volatile holdings stay within a share of equity.

Every asset counts as volatile except cash and the listed stable assets. Buys in flight
(awaiting approval or fill) count as held.
"""

from __future__ import annotations

from pydantic import Field

from core.models import CASH, Proposal, Side
from policies.base import (
    PORTFOLIO,
    RESERVED,
    PolicyContext,
    Rule,
    RuleConfig,
    RuleResult,
    register,
)


class MaxVolatileShareConfig(RuleConfig):
    max_share: float = Field(
        default=0.4, gt=0, le=1, description="Largest share of equity in volatile assets together"
    )
    stable_assets: tuple[str, ...] = Field(
        default=("USDC", "USDT", "DAI", "BUSD", "TUSD", "FDUSD"),
        description="Assets that do not count as volatile (cash never does)",
    )


@register
class MaxVolatileShare(Rule):
    id = "max_volatile_share"
    config_model = MaxVolatileShareConfig
    config: MaxVolatileShareConfig
    needs = frozenset({PORTFOLIO, RESERVED})

    def applies_to(self, proposal: Proposal) -> bool:
        return proposal.side is Side.BUY and self.volatile(proposal.asset)

    def volatile(self, asset: str) -> bool:
        return asset != CASH and asset not in self.config.stable_assets

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        portfolio = context.portfolio
        held = sum(portfolio.position_value(a) for a in portfolio.positions if self.volatile(a))
        held += sum(usd for a, usd in context.reserved_usd_by_asset.items() if self.volatile(a))
        equity = portfolio.equity_usd
        room = self.config.max_share * equity - held
        if notional_usd <= room:
            return None
        limit = f"{self.config.max_share:.0%} of equity"
        if room <= 0:
            return RuleResult("deny", f"volatile assets already at {held:,.2f} "
                                      f"(max {limit}, equity {equity:,.2f})")
        return RuleResult("resize", f"resized to {room:,.2f} to keep volatile assets within {limit}",
                          notional_usd=room)
