"""The risk agent: sizes each proposal and annotates it with a RiskAssessment.

Fixed-fraction sizing (a share of equity per entry) and a max-position check; exits are sized
to what is held. It can only make a proposal smaller, never larger.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.config_model import ConfigModel
from core.models import MarketSnapshot, PortfolioState, Proposal, RiskAssessment, Side
from core.slippage import SlippageModel

Z_95 = 1.6448536269514722


class RiskConfig(ConfigModel):
    """`[risk]`: how big an entry may be."""

    fraction: float = Field(
        default=0.1, gt=0, le=1, description="Share of equity one entry may use"
    )
    max_position_share: float = Field(
        default=0.5, gt=0, le=1, description="Largest share of equity one asset may reach"
    )


class RiskAgent:
    def __init__(self, config: RiskConfig, *, slippage: SlippageModel, fee_rate: float) -> None:
        self.config = config
        self.slippage = slippage
        self.fee_rate = fee_rate
        self.assessed = 0

    def assess(
        self,
        proposal: Proposal,
        snapshot: MarketSnapshot,
        portfolio: PortfolioState,
        *,
        reserved_usd: float = 0.0,
    ) -> RiskAssessment:
        """Size the proposal; ``reserved_usd`` is cash already promised to in-flight buys."""
        asset = proposal.asset
        equity = portfolio.equity_usd
        held_value = portfolio.position_value(asset)
        notes: list[str] = []
        requested = proposal.notional_usd
        if proposal.side is Side.SELL:
            sized = min(requested, held_value)
            if sized < requested:
                notes.append(f"sized to the position held ({held_value:,.2f})")
            value_after = held_value - sized
        else:
            spendable = max(0.0, portfolio.cash_usd - reserved_usd)
            cap_fraction = self.config.fraction * equity
            cap_position = (
                max(0.0, self.config.max_position_share * equity - held_value)
                if asset in snapshot.bars else float("inf")  # a lending receipt has no market
            )
            sized = min(requested, cap_fraction, spendable, cap_position)
            for cap, why in (
                (cap_fraction, f"fixed fraction {self.config.fraction:.0%} of equity"),
                (spendable, "cash not already reserved"),
                (cap_position, f"max position {self.config.max_position_share:.0%} of equity"),
            ):
                if sized == cap and cap < requested:
                    notes.append(f"sized down to {cap:,.2f} by {why}")
                    break
            value_after = held_value + sized
        bar = snapshot.bars.get(asset)  # None for a lending receipt: no market, no slippage
        volatility = snapshot.volatility.get(asset) or 0.0
        self.assessed += 1
        return RiskAssessment(
            decision_id=proposal.decision_id,
            requested_notional_usd=requested,
            sized_notional_usd=sized,
            position_share_after=value_after / equity if equity > 0 else 0.0,
            volatility_per_bar=volatility,
            var_95_usd=Z_95 * volatility * value_after,
            expected_slippage_bps=0.0 if bar is None else self.slippage.bps(
                notional_usd=max(sized, 1e-9), price=bar.close, bar_volume=bar.volume
            ),
            notes=tuple(notes),
        )

    def health(self) -> dict[str, Any]:
        return {"assessed": self.assessed}
