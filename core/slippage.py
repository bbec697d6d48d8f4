"""The paper slippage model, shared by the executor (fills) and risk (expected slippage).

slippage_bps = base_bps + impact_bps * participation, capped at max_bps, where participation
is the order's quantity as a share of the bar's volume.
"""

from __future__ import annotations

from pydantic import Field

from core.config_model import ConfigModel


class SlippageModel(ConfigModel):
    base_bps: float = Field(default=2.0, ge=0, description="Slippage of any fill, in bps")
    impact_bps: float = Field(
        default=100.0, ge=0, description="Extra bps per 100% of the bar's volume taken"
    )
    max_bps: float = Field(default=500.0, ge=0, description="Cap on modelled slippage, in bps")

    def bps(self, *, notional_usd: float, price: float, bar_volume: float) -> float:
        """Modelled slippage in basis points for an order of this size."""
        quantity = notional_usd / price
        participation = quantity / bar_volume if bar_volume > 0 else 1.0
        return min(self.max_bps, self.base_bps + self.impact_bps * participation)
