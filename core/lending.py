"""Paper lending: what a deposit's receipt asset is worth in cash at a given time.

A deposit into a lending protocol is booked as a position in the protocol's receipt asset (Aave's
aUSDC: ``treasury_regime``'s ``receipt_asset``). In paper trading that asset has no market: its
price is 1 cash unit at the run's start and grows at the configured yearly supply rate,
compounded continuously in time (``[execution] lending_rates``). The paper executor fills
deposits and withdrawals at this price, and the treasury marks what it holds with it, so the
interest shows in equity bar by bar. Chain modes read the protocol instead.
"""

from __future__ import annotations

from datetime import datetime

YEAR_S = 365.25 * 86_400.0


def receipt_price(rate: float, *, start: datetime, ts: datetime) -> float:
    """The receipt asset's value in cash at ``ts``: 1 at ``start``, (1 + rate) a year later."""
    return (1.0 + rate) ** ((ts - start).total_seconds() / YEAR_S)
