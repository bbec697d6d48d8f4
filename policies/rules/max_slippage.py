"""Deny a swap whose expected price strays too far from the oracle price.

The oracle is the close of the asset's latest bar in the snapshot; the expected price is that
close moved against us by the risk assessment's expected slippage (up for a buy, down for a
sell). Above ``human_above_bps`` (if set) a person must agree even when the notional is small.
An exit above ``max_bps`` is not denied, which would trap the risk it sheds: a person decides.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from core.models import Side, Tier
from policies.base import (
    PRICE,
    PolicyContext,
    RuleConfig,
    RuleResult,
    SwapRule,
    register,
)


class MaxSlippageConfig(RuleConfig):
    max_bps: float = Field(gt=0, description="Largest expected deviation from the oracle, in bps")
    human_above_bps: float | None = Field(
        default=None, gt=0, description="Above this (and up to max_bps) at least one person approves"
    )

    @model_validator(mode="after")
    def _ordered(self) -> MaxSlippageConfig:
        if self.human_above_bps is not None and self.human_above_bps >= self.max_bps:
            raise ValueError("human_above_bps must be below max_bps")
        return self


@register
class MaxSlippage(SwapRule):
    id = "max_slippage"
    config_model = MaxSlippageConfig
    config: MaxSlippageConfig
    needs = frozenset({PRICE})

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        proposal, bar = context.proposal, context.bar()
        if bar is None:
            return RuleResult("deny", f"no oracle price for {proposal.asset} in the snapshot")
        oracle = bar.close
        bps = context.assessment.expected_slippage_bps
        sign = 1 if proposal.side is Side.BUY else -1
        expected = oracle * (1 + sign * bps / 1e4)
        deviation_bps = abs(expected / oracle - 1) * 1e4
        what = f"expected price {expected:.8g} is {deviation_bps:.1f} bps from the oracle {oracle:.8g}"
        if deviation_bps > self.config.max_bps:
            if proposal.reduces_risk:
                return RuleResult("tier", f"{what} (max {self.config.max_bps:g} bps; an exit, so a "
                                  "person decides instead of trapping the position)", tier=Tier.HUMAN)
            return RuleResult("deny", f"{what} (max {self.config.max_bps:g} bps)")
        human = self.config.human_above_bps
        if human is not None and deviation_bps > human:
            return RuleResult("tier", f"{what} (> {human:g} bps: a person must agree)",
                              tier=Tier.HUMAN)
        return None
