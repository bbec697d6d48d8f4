"""What the compute agent is asked for: indicator specs, the fused standard set, a request.

Plain pydantic models with no kernel behind them, so strategies and configs can name indicators
without loading Numba; agents/compute.py runs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from core.models import Model

if TYPE_CHECKING:
    from core.kernels.fused import FusedParams

IndicatorName = Literal[
    "sma", "ema", "wma", "rsi", "volatility", "zscore", "rolling_max_drawdown",
    "atr", "adx", "bollinger", "macd", "stoch", "parkinson", "vwap", "obv",
]

_NO_PERIOD = frozenset({"obv"})
"""Indicators over the whole history, with no look-back window."""

_EXTRAS: dict[str, dict[str, float | int]] = {
    "bollinger": {"k": 2.0},
    "macd": {"slow": 26, "signal": 9},
    "stoch": {"smooth": 3},
}
"""The optional parameters each indicator takes, with their defaults; others take none."""

_INPUTS: dict[str, tuple[str, ...]] = {
    "atr": ("high", "low", "close"),
    "adx": ("high", "low", "close"),
    "stoch": ("high", "low", "close"),
    "parkinson": ("high", "low"),
    "vwap": ("high", "low", "close", "volume"),
    "obv": ("close", "volume"),
}
"""The price arrays each indicator reads, in its kernel's order; the others read close only."""

_PARTS: dict[str, tuple[str, ...]] = {
    "adx": ("adx", "plus_di", "minus_di"),
    "bollinger": ("upper", "middle", "lower"),
    "macd": ("line", "signal", "hist"),
    "stoch": ("k", "d"),
}


class IndicatorSpec(Model):
    """One indicator with its parameters, e.g. ``sma`` over 10 bars or ``macd`` 12/26/9."""

    name: IndicatorName = Field(description="Which indicator (core.kernels.indicators)")
    period: int | None = Field(
        default=None, ge=1,
        description="Look-back in bars; the fast period for macd, %K's for stoch; none for obv",
    )
    k: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="bollinger: band width in std"
    )
    slow: int | None = Field(default=None, ge=2, description="macd: slow EMA period")
    signal: int | None = Field(default=None, ge=1, description="macd: signal EMA period")
    smooth: int | None = Field(default=None, ge=1, description="stoch: %D smoothing period")

    @model_validator(mode="before")
    @classmethod
    def _fill_extras(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return data
        allowed = _EXTRAS.get(data["name"], {})
        for extra in ("k", "slow", "signal", "smooth"):
            if data.get(extra) is not None and extra not in allowed:
                raise ValueError(f"{data['name']} takes no {extra!r} parameter")
        return {**allowed, **{key: value for key, value in data.items() if value is not None}}

    @model_validator(mode="after")
    def _check_order(self) -> IndicatorSpec:
        if self.name in _NO_PERIOD and self.period is not None:
            raise ValueError(f"{self.name} runs over the whole history and takes no period")
        if self.name not in _NO_PERIOD and self.period is None:
            raise ValueError(f"{self.name} needs a period (look-back in bars)")
        if self.name == "macd" and self.slow is not None and self.slow <= self.period:
            raise ValueError(f"macd slow period ({self.slow}) must exceed fast ({self.period})")
        return self

    @property
    def key(self) -> str:
        """The name results are filed under, e.g. ``sma_10``, ``bollinger_20_2``."""
        if self.period is None:
            return self.name
        extras = [f"{getattr(self, extra):g}" for extra in _EXTRAS.get(self.name, {})]
        return "_".join([self.name, str(self.period), *extras])

    @property
    def outputs(self) -> tuple[str, ...]:
        """Result keys: ``key`` alone, or ``key.part`` for each part (``bollinger_20_2.upper``)."""
        parts = _PARTS.get(self.name)
        return (self.key,) if parts is None else tuple(f"{self.key}.{p}" for p in parts)

    @property
    def lookback(self) -> int:
        """Bars of history the first value needs (order of magnitude, for window sizing)."""
        if self.name == "macd":
            return (self.slow or 0) + (self.signal or 0)
        if self.name == "stoch":
            return self.period + (self.smooth or 0)
        if self.name == "adx":
            return 2 * self.period
        return self.period or 1

    @property
    def inputs(self) -> tuple[str, ...]:
        """The arrays the kernel reads, in its order (``close`` alone for most)."""
        return _INPUTS.get(self.name, ("close",))

    @property
    def arguments(self) -> tuple[float | int, ...]:
        """Positional parameters after the price arrays, in the kernel's order."""
        if self.period is None:
            return ()
        return (self.period, *(getattr(self, extra) for extra in _EXTRAS.get(self.name, {})))


class StandardSet(Model):
    """The fused standard set (EMA fast/slow, RSI, ATR, Bollinger, volatility) in one pass."""

    ema_fast: int = Field(default=12, ge=1, description="Fast EMA period")
    ema_slow: int = Field(default=26, ge=1, description="Slow EMA period")
    rsi: int = Field(default=14, ge=1, description="RSI period (Wilder)")
    atr: int = Field(default=14, ge=1, description="ATR period (Wilder)")
    bollinger: int = Field(default=20, ge=1, description="Bollinger period")
    bollinger_k: float = Field(default=2.0, gt=0, allow_inf_nan=False, description="Band width")
    volatility: int = Field(default=20, ge=2, description="Bars of log returns in the std")

    def keys(self) -> dict[str, str]:
        """Kernel field → result key, named like the equivalent IndicatorSpec outputs."""
        band = f"bollinger_{self.bollinger}_{self.bollinger_k:g}"
        return {
            "ema_fast": f"ema_{self.ema_fast}",
            "ema_slow": f"ema_{self.ema_slow}",
            "rsi": f"rsi_{self.rsi}",
            "atr": f"atr_{self.atr}",
            "bb_upper": f"{band}.upper",
            "bb_middle": f"{band}.middle",
            "bb_lower": f"{band}.lower",
            "volatility": f"volatility_{self.volatility}",
        }

    @property
    def lookback(self) -> int:
        return max(self.ema_fast, self.ema_slow, self.rsi, self.atr, self.bollinger,
                   self.volatility)

    def params(self) -> FusedParams:
        from core.kernels.fused import FusedParams  # numba: loaded where kernels run

        return FusedParams(**self.model_dump())


class IndicatorRequest(Model):
    """What a caller wants for every asset in one call: specs, and optionally the standard set."""

    specs: tuple[IndicatorSpec, ...] = Field(description="Indicators to compute; duplicates once")
    standard: StandardSet | None = Field(
        default=None, description="Also compute the fused standard set in the same call"
    )

    @property
    def lookback(self) -> int:
        """The longest look-back of anything requested (1 when nothing is)."""
        longest = max((spec.lookback for spec in self.specs), default=1)
        return max(longest, self.standard.lookback if self.standard else 1)

    @property
    def inputs(self) -> frozenset[str]:
        """Every array the request reads."""
        needed = {name for spec in self.specs for name in spec.inputs} | {"close"}
        return frozenset(needed | ({"high", "low"} if self.standard is not None else set()))
