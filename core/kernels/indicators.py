"""Technical indicators for Quorum: numpy in, numpy out, compiled by Numba.

Each function takes closes shaped (bars,) or (assets × bars), returns float64 of the same shape,
and puts NaN where the indicator is still warming up. Values are causal: the value at bar t
depends only on bars 0..t, so a backtest can precompute them without looking ahead.
Inputs must be finite (feeds refuse NaN); a series shorter than the warm-up is all NaN.
This module validates; ``_core`` computes. It never reads files or the clock.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.kernels import _core

KINDS: dict[str, int] = {"sma": _core.SMA, "ema": _core.EMA, "rsi": _core.RSI}
"""Indicator names this module computes, mapped to their kernel codes."""


def sma(close: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average over ``period`` bars; first value at index ``period - 1``."""
    return _series("sma", close, period)


def ema(close: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average, TA-Lib convention.

    alpha = 2 / (period + 1); the first value, at index ``period - 1``, is the SMA of the first
    ``period`` closes.
    """
    return _series("ema", close, period)


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Relative strength index (0..100) with Wilder smoothing, TA-Lib convention.

    The first value, at index ``period``, uses the simple mean gain and loss of the first
    ``period`` changes; later ones smooth with ``avg = (avg * (period - 1) + change) / period``.
    When average gain and loss are both zero (prices constant), RSI is 50, neutral:
    TA-Lib returns 0 there, which would read as deeply oversold.
    """
    return _series("rsi", close, period)


def batch(close: np.ndarray, specs: Sequence[tuple[str, int]]) -> np.ndarray:
    """Several indicators of every asset in one parallel kernel call.

    ``specs`` holds ``(name, period)`` pairs; the result has shape (len(specs), *close.shape)
    and ``result[j]`` equals ``KINDS``' function ``specs[j][0]`` at ``specs[j][1]``.
    """
    x = _as_series(close)
    kinds = np.empty(len(specs), dtype=np.int64)
    periods = np.empty(len(specs), dtype=np.int64)
    for j, (name, period) in enumerate(specs):
        kinds[j] = _kind(name)
        periods[j] = _check_period(period, argument=f"specs[{j}] period")
    out = _core.batch_2d(x if x.ndim == 2 else x[np.newaxis, :], kinds, periods)
    return out if x.ndim == 2 else out[:, 0, :]


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel, so the first real call is fast."""
    line = np.linspace(1.0, 2.0, 8)
    grid = np.vstack([line, line[::-1]])
    for name in KINDS:
        _series(name, line, 3)
        _series(name, grid, 3)
    batch(grid, [(name, 3) for name in KINDS])


def _series(name: str, close: np.ndarray, period: int) -> np.ndarray:
    x = _as_series(close)
    period = _check_period(period)
    kind = KINDS[name]
    if x.ndim == 1:
        return _core.series_1d(kind, x, period)
    return _core.series_2d(kind, x, period)


def _as_series(close: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(close, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"close must be 1-D (bars) or 2-D (assets × bars), got shape {x.shape}")
    return x


def _check_period(period: int, *, argument: str = "period") -> int:
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)):
        raise TypeError(f"{argument} must be an int, got {type(period).__name__}")
    if period < 1:
        raise ValueError(f"{argument} must be >= 1, got {period}")
    return int(period)


def _kind(name: str) -> int:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown indicator {name!r}; known: {', '.join(KINDS)}") from None
