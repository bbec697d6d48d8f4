"""Deny a swap on a market too thin to take it; resize it to a share of what trades.

Liquidity here is the traded notional of the asset's latest bar (volume x close): the paper-mode
proxy for the depth of a pool. On-chain modes will read pool reserves instead.
"""

from __future__ import annotations

from pydantic import Field

from policies.base import (
    PRICE,
    VOLUME,
    PolicyContext,
    RuleConfig,
    RuleResult,
    SwapRule,
    register,
)


class MinLiquidityConfig(RuleConfig):
    min_usd: float = Field(
        ge=0, description="Least traded notional in the latest bar; a bar with no volume always fails"
    )
    max_volume_share: float | None = Field(
        default=None, gt=0, description="Resize a trade to at most this share of that notional"
    )


@register
class MinLiquidity(SwapRule):
    id = "min_liquidity"
    config_model = MinLiquidityConfig
    config: MinLiquidityConfig
    needs = frozenset({PRICE, VOLUME})

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        asset, bar = context.proposal.asset, context.bar()
        if bar is None:
            return RuleResult("deny", f"no bar for {asset} in the snapshot to judge liquidity by")
        liquidity = bar.volume * bar.close
        if liquidity <= 0 or liquidity < self.config.min_usd:
            return RuleResult("deny", f"{asset} traded {liquidity:,.2f} in the latest bar "
                                      f"(min {self.config.min_usd:,.2f})")
        share = self.config.max_volume_share
        if share is None or notional_usd <= share * liquidity:
            return None
        return RuleResult("resize", f"resized to {share * liquidity:,.2f}, {share:.0%} of the "
                                    f"{liquidity:,.2f} of {asset} traded in the latest bar "
                                    "(volume × close)",
                          notional_usd=share * liquidity)
