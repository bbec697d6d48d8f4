"""Technical indicators for Quorum: numpy in, numpy out, compiled by Numba.

Each function takes series shaped (bars,) or (assets × bars), returns float64 of the same shape,
and puts NaN where the indicator is still warming up. Values are causal: the value at bar t
depends only on bars 0..t, so a backtest can precompute them without looking ahead.
Inputs must be finite (feeds refuse NaN); a series shorter than the warm-up is all NaN.
Conventions follow TA-Lib unless a docstring says otherwise (flat-market RSI and %K, OBV's start).
This module validates; ``_core`` computes. It never reads files or the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from core.kernels import _checks, _core

KINDS: dict[str, int] = {
    "sma": _core.SMA,
    "ema": _core.EMA,
    "rsi": _core.RSI,
    "wma": _core.WMA,
    "volatility": _core.VOLATILITY,
    "zscore": _core.ZSCORE,
    "rolling_max_drawdown": _core.MAX_DRAWDOWN,
}
"""Single-series, single-period indicators ``batch`` computes, mapped to their kernel codes."""

_MIN_PERIOD = {"volatility": 2}
_NEEDS_POSITIVE = {"volatility", "rolling_max_drawdown"}


def sma(close: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average over ``period`` bars; first value at index ``period - 1``."""
    return _series("sma", close, period)


def ema(close: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average, TA-Lib convention.

    alpha = 2 / (period + 1); the first value, at index ``period - 1``, is the SMA of the first
    ``period`` closes.
    """
    return _series("ema", close, period)


def wma(close: np.ndarray, period: int) -> np.ndarray:
    """Linearly weighted moving average (weights 1..period, newest heaviest), as TA-Lib WMA."""
    return _series("wma", close, period)


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Relative strength index (0..100) with Wilder smoothing, TA-Lib convention.

    The first value, at index ``period``, uses the simple mean gain and loss of the first
    ``period`` changes; later ones smooth with ``avg = (avg * (period - 1) + change) / period``.
    When average gain and loss are both zero (prices constant), RSI is 50, neutral:
    TA-Lib returns 0 there, which would read as deeply oversold.
    """
    return _series("rsi", close, period)


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD ``(line, signal, hist)``, equal to TA-Lib MACD; all three start at ``slow + signal - 2``.

    As in TA-Lib, the fast EMA is seeded at bar ``slow - 1`` with the SMA of the ``fast`` closes
    ending there, so the line is not exactly ``ema(fast) - ema(slow)`` in its first bars.
    """
    x = _checks.as_series(close)
    fast = _checks.period(fast, "fast")
    slow = _checks.period(slow, "slow")
    signal = _checks.period(signal, "signal")
    if fast >= slow:
        raise ValueError(f"fast must be < slow, got fast={fast}, slow={slow}")
    return _apply(_core.macd_into, _core.macd_2d, (x,), (fast, slow, signal), outputs=3)


def bollinger(
    close: np.ndarray, period: int = 20, k: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger ``(upper, middle, lower)``: SMA ± ``k`` population standard deviations.

    Equal to TA-Lib BBANDS(nbdevup=nbdevdn=k, matype=0); first value at ``period - 1``.
    """
    x = _checks.as_series(close)
    period = _checks.period(period)
    k = _checks.factor(k, "k")
    return _apply(
        _core.bollinger_into, _core.bollinger_2d, (x,), (period, k), outputs=3
    )


def atr(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14
) -> np.ndarray:
    """Wilder average true range, equal to TA-Lib ATR; first value, at ``period``, is a plain mean."""
    arrays = _checks.as_matching(high=high, low=low, close=close)
    period = _checks.period(period)
    return _apply(_core.atr_into, _core.atr_2d, arrays, (period,))


def stoch(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    k_period: int = 14,
    d_period: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Fast stochastic ``(k, d)``: %K over ``k_period`` bars and %D, its ``d_period``-bar SMA.

    Equal to TA-Lib STOCHF(fastk_period=k_period, fastd_period=d_period, fastd_matype=0), which
    is also STOCH(fastk_period=k_period, slowk_period=1, slowd_period=d_period). Like TA-Lib,
    both start at ``k_period + d_period - 2``. Where a window's high equals its low, %K is 50
    (neutral) where TA-Lib gives 0.
    """
    arrays = _checks.as_matching(high=high, low=low, close=close)
    k_period = _checks.period(k_period, "k_period")
    d_period = _checks.period(d_period, "d_period")
    return _apply(
        _core.stoch_into, _core.stoch_2d, arrays, (k_period, d_period), outputs=2
    )


def adx(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wilder ``(adx, plus_di, minus_di)``, equal to TA-Lib ADX, PLUS_DI and MINUS_DI.

    +DI/-DI start at ``period``, ADX at ``2 * period - 1``. The early values depend on the
    seeding (TA-Lib calls them unstable) and converge after a few times ``period`` bars.
    """
    arrays = _checks.as_matching(high=high, low=low, close=close)
    period = _checks.period(period)
    return _apply(_core.adx_into, _core.adx_2d, arrays, (period,), outputs=3)


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume, starting at 0 on bar 0; no warm-up.

    TA-Lib OBV starts at ``volume[0]`` instead, so this equals ``talib.OBV - volume[0]``: the
    first bar has no previous close, so it moves no volume either way.
    """
    arrays = _checks.as_matching(close=close, volume=volume)
    _checks.non_negative(arrays[1], "volume")
    return _apply(_core.obv_into, _core.obv_2d, arrays, ())


def vwap(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    period: int,
) -> np.ndarray:
    """Rolling VWAP of the typical price (high + low + close) / 3 over ``period`` bars.

    First value at ``period - 1``; NaN where the window traded no volume at all.
    """
    arrays = _checks.as_matching(high=high, low=low, close=close, volume=volume)
    _checks.non_negative(arrays[3], "volume")
    period = _checks.period(period)
    return _apply(_core.vwap_into, _core.vwap_2d, arrays, (period,))


def volatility(close: np.ndarray, period: int) -> np.ndarray:
    """Close-to-close volatility: sample std (ddof=1) of the last ``period`` log returns.

    Per bar, not annualised; first value at index ``period``; ``period`` >= 2; closes must be > 0.
    """
    return _series("volatility", close, period)


def parkinson(high: np.ndarray, low: np.ndarray, period: int) -> np.ndarray:
    """Parkinson high-low volatility: sqrt(mean(ln(high / low)^2) / (4 ln 2)) over ``period`` bars.

    Per bar, not annualised; first value at ``period - 1``; highs and lows must be > 0.
    """
    arrays = _checks.as_matching(high=high, low=low)
    for name, x in zip(("high", "low"), arrays, strict=True):
        _checks.positive(x, name)
    period = _checks.period(period)
    return _apply(_core.parkinson_into, _core.parkinson_2d, arrays, (period,))


def zscore(close: np.ndarray, period: int) -> np.ndarray:
    """(close - rolling mean) / rolling population std (ddof=0) over ``period`` bars, close included.

    0 where the window is flat; first value at ``period - 1``.
    """
    return _series("zscore", close, period)


def rolling_max_drawdown(close: np.ndarray, period: int) -> np.ndarray:
    """Largest peak-to-trough fall inside the last ``period`` bars, as a fraction of the peak.

    0..1 (0 when the window never falls); first value at ``period - 1``; closes must be > 0.
    """
    return _series("rolling_max_drawdown", close, period)


def crossover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """+1 where ``a`` crosses above ``b`` at a bar, -1 where it crosses below, 0 otherwise.

    Above means ``a[t] > b[t]`` after ``a[t-1] <= b[t-1]`` (below mirrored), so touching and
    leaving again counts as a cross. NaN on bar 0 and wherever a[t], b[t], a[t-1] or b[t-1] is NaN,
    so two indicators' warm-ups carry through.
    """
    arrays = _checks.as_matching(a=a, b=b)
    return _apply(_core.crossover_into, _core.crossover_2d, arrays, ())


def batch(close: np.ndarray, specs: Sequence[tuple[str, int]]) -> np.ndarray:
    """Several indicators of every asset in one parallel kernel call.

    ``specs`` holds ``(name, period)`` pairs; the result has shape (len(specs), *close.shape)
    and ``result[j]`` equals ``KINDS``' function ``specs[j][0]`` at ``specs[j][1]``.
    """
    x = _checks.as_series(close)
    kinds = np.empty(len(specs), dtype=np.int64)
    periods = np.empty(len(specs), dtype=np.int64)
    for j, (name, period) in enumerate(specs):
        kinds[j] = _kind(name)
        periods[j] = _checks.period(
            period, f"specs[{j}] period", minimum=_MIN_PERIOD.get(name, 1)
        )
    if _NEEDS_POSITIVE.intersection(name for name, _ in specs):
        _checks.positive(x, "close")
    out = _core.batch_2d(x if x.ndim == 2 else x[np.newaxis, :], kinds, periods)
    return out if x.ndim == 2 else out[:, 0, :]


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel, 1-D and 2-D, so no call pays it."""
    line = np.linspace(1.0, 2.0, 8)
    for close in (line, np.vstack([line, line[::-1]])):
        high, low, volume = close * 1.01, close * 0.99, close * 100.0
        for name in KINDS:
            _series(name, close, 3)
        batch(close, [(name, 3) for name in KINDS])
        macd(close, 2, 3, 2)
        bollinger(close, 3, 2.0)
        atr(high, low, close, 3)
        stoch(high, low, close, 3, 2)
        adx(high, low, close, 3)
        obv(close, volume)
        vwap(high, low, close, volume, 3)
        parkinson(high, low, 3)
        crossover(close, close[..., ::-1])


def _series(name: str, close: np.ndarray, period: int) -> np.ndarray:
    x = _checks.as_series(close)
    period = _checks.period(period, minimum=_MIN_PERIOD.get(name, 1))
    if name in _NEEDS_POSITIVE:
        _checks.positive(x, "close")
    kind = KINDS[name]
    if x.ndim == 1:
        return _core.series_1d(kind, x, period)
    return _core.series_2d(kind, x, period)


def _apply(
    one: Callable[..., None],
    rows: Callable[..., object],
    arrays: tuple[np.ndarray, ...],
    params: tuple[object, ...],
    *,
    outputs: int = 1,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Run kernel ``one`` (fills outputs) on 1-D arrays, or ``rows`` (returns them) on 2-D."""
    if arrays[0].ndim == 2:
        return rows(*arrays, *params)
    outs = tuple(np.empty_like(arrays[0]) for _ in range(outputs))
    one(*arrays, *params, *outs)
    return outs[0] if outputs == 1 else outs


def _kind(name: str) -> int:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(
            f"unknown indicator {name!r}; known: {', '.join(KINDS)}"
        ) from None
