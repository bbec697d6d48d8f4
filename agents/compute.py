"""The shared compute agent: every indicator of every asset in one batched call per tick.

In production this class runs as one Ray actor (created by ``core.runtime``) so the Numba kernels
stay compiled and warm for every caller; here it is a plain class and must never import ray.
Its methods take and return plain numpy arrays (assets × bars) and small pydantic requests, so
Ray moves the arrays through its object store without copying them per caller.
It computes and counts; it holds no market state between calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from core.kernels import fused as fused_kernels
from core.kernels import indicators
from core.models import Model

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

    def params(self) -> fused_kernels.FusedParams:
        return fused_kernels.FusedParams(**self.model_dump())


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


class ComputeAgent:
    """Computes indicators for all assets at once; shared by every agent that needs them."""

    def __init__(self) -> None:
        indicators.warm_up()
        fused_kernels.warm_up()
        self._calls = 0
        self._series_computed = 0
        self._compute_seconds = 0.0
        # A Ray actor may serve a compiled-graph call on a background thread while a plain call
        # runs on its main thread; Numba's default thread pool must not be entered twice.
        self._kernels = threading.Lock()

    def compute(
        self,
        request: IndicatorRequest,
        *,
        close: np.ndarray,
        high: np.ndarray | None = None,
        low: np.ndarray | None = None,
        volume: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Everything ``request`` names for every row of (assets × bars) arrays: key → array."""
        arrays = _arrays(request, close=close, high=high, low=low, volume=volume)
        with self._kernels:
            return self._compute(request, arrays)

    def _compute(
        self, request: IndicatorRequest, arrays: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        close = arrays["close"]
        started = time.perf_counter()
        values: dict[str, np.ndarray] = {}
        if request.standard is not None:
            values.update(self._fused(request.standard, arrays))
        unique = [s for s in {s.key: s for s in request.specs}.values() if s.outputs[0] not in values]
        values.update(_batched(close, [s for s in unique if s.name in indicators.KINDS]))
        for spec in unique:
            if spec.name not in indicators.KINDS:
                values.update(_one(spec, arrays))
        self._count(started, len(unique) * close.shape[0])
        return values

    def fused(
        self,
        *,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        standard: StandardSet | None = None,
    ) -> dict[str, np.ndarray]:
        """The fused standard set of every row: result key (``StandardSet.keys``) → array."""
        request = IndicatorRequest(specs=(), standard=standard or StandardSet())
        return self.compute(request, close=close, high=high, low=low)

    def indicators(
        self, close: np.ndarray, specs: Sequence[IndicatorSpec]
    ) -> dict[str, np.ndarray]:
        """Close-only shorthand for ``compute``: every spec for every row of ``close``."""
        return self.compute(IndicatorRequest(specs=tuple(specs)), close=close)

    def health(self) -> dict[str, float | int]:
        """Calls served, series computed and seconds spent in kernels since start."""
        return {
            "calls": self._calls,
            "series_computed": self._series_computed,
            "compute_seconds": self._compute_seconds,
        }

    def _fused(self, standard: StandardSet, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = fused_kernels.fused(
            high=arrays["high"], low=arrays["low"], close=arrays["close"], params=standard.params()
        )
        self._series_computed += len(standard.keys()) * arrays["close"].shape[0]
        return {key: getattr(result, field) for field, key in standard.keys().items()}

    def _count(self, started: float, series: int) -> None:
        self._compute_seconds += time.perf_counter() - started
        self._calls += 1
        self._series_computed += series


def _batched(close: np.ndarray, specs: list[IndicatorSpec]) -> dict[str, np.ndarray]:
    """The single-period, close-only specs in one parallel kernel call."""
    if not specs:
        return {}
    values = indicators.batch(close, [(spec.name, spec.period) for spec in specs])
    return {spec.key: values[j] for j, spec in enumerate(specs)}


def _one(spec: IndicatorSpec, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One spec over every asset (the kernel runs assets in parallel)."""
    function = getattr(indicators, spec.name, None)
    if function is None:
        raise NotImplementedError(f"{spec.key}: core.kernels.indicators has no {spec.name}()")
    result = function(*(arrays[name] for name in spec.inputs), *spec.arguments)
    parts = result if isinstance(result, tuple) else (result,)
    if len(parts) != len(spec.outputs):
        raise RuntimeError(f"{spec.key}: {spec.name}() returned {len(parts)} arrays, "
                           f"expected {len(spec.outputs)}")
    return dict(zip(spec.outputs, parts, strict=True))


def _as_grid(array: Any, name: str) -> np.ndarray:
    grid = np.asarray(array, dtype=np.float64)
    if grid.ndim != 2:
        raise ValueError(f"{name} must be 2-D (assets × bars), got shape {grid.shape}")
    return grid


def _arrays(request: IndicatorRequest, **given: Any) -> dict[str, np.ndarray]:
    """The arrays the request reads, checked: 2-D, all shaped like close, none missing."""
    close = _as_grid(given["close"], "close")
    arrays = {"close": close}
    for name in ("high", "low", "volume"):
        if name not in request.inputs:
            continue
        if given[name] is None:
            needing = [s.key for s in request.specs if name in s.inputs]
            if request.standard is not None and name in ("high", "low"):
                needing.append("the standard set")
            raise ValueError(f"{', '.join(needing)} need a {name} array as well as close")
        grid = _as_grid(given[name], name)
        if grid.shape != close.shape:
            raise ValueError(f"{name} has shape {grid.shape}, close has {close.shape}; "
                             "they must match")
        arrays[name] = grid
    return arrays
