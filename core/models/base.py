"""What every domain type shares: the frozen base, symbols, amounts, prices, the cash unit."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

CASH = "USD"
"""The treasury's cash unit. With files quoted in another currency (BTC, ETH) it stands for that."""


class Model(BaseModel):
    """Base of every domain type: frozen, unknown fields forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid")


Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$", description="Ticker, upper case")]
Usd = Annotated[float, Field(ge=0, allow_inf_nan=False, description="Amount in the cash unit")]
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def finite_or_none(value: float) -> float | None:
    """An indicator value fit for JSON: NaN (warm-up) becomes None."""
    return None if math.isnan(value) else float(value)
