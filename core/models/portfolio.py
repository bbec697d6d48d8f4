"""What the treasury holds: positions and the portfolio they make with the cash."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from core.models.base import Model, Symbol, Usd


class Position(Model):
    asset: Symbol
    quantity: float = Field(ge=0)
    avg_entry_price: float = Field(ge=0)
    opened_at: datetime | None = None


class PortfolioState(Model):
    tick: int = Field(ge=0)
    ts: datetime
    cash_usd: float = Field(allow_inf_nan=False)
    positions: dict[str, Position] = Field(default_factory=dict)
    prices: dict[str, float] = Field(default_factory=dict)
    realized_pnl_usd: float = 0.0
    fees_usd: Usd = 0.0
    initial_equity_usd: Usd

    @property
    def equity_usd(self) -> float:
        prices = self.prices  # position_value of each, inlined: the same floats, summed in order
        return self.cash_usd + sum(position.quantity * prices.get(asset, position.avg_entry_price)
                                   for asset, position in self.positions.items())

    def position_value(self, asset: str) -> float:
        position = self.positions.get(asset)
        if position is None:
            return 0.0
        return position.quantity * self.prices.get(asset, position.avg_entry_price)

    def quantity(self, asset: str) -> float:
        position = self.positions.get(asset)
        return position.quantity if position else 0.0
