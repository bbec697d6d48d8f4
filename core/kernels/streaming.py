"""Streaming indicators: per-asset state that a live bar updates without recomputing history.

``StreamingIndicators(assets, specs)`` keeps, for every (asset, indicator), the few numbers and
the ring buffer that indicator needs; ``update`` takes one new bar for every asset and returns
every indicator's new value, which equals the batch value in ``core.kernels.indicators`` (and
TA-Lib, where TA-Lib defines it) at that bar, NaN during the same warm-up. A spec is a tuple:
the name, then its parameters, e.g. ``("macd", 12, 26, 9)`` or ``("bollinger", 20, 2.0)``.
This module validates and names; ``_streaming_kernel`` computes in one compiled call.
It never reads files or the clock, and never looks at a bar twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.kernels import _streaming_kernel as kernel

Spec = tuple
"""``(name, *parameters)``; see ``FAMILIES`` for each name's parameters."""

FAMILIES: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    # name: (kind code, integer parameters, output parts; "" for a single output)
    "sma": (kernel.SMA, ("period",), ("",)),
    "ema": (kernel.EMA, ("period",), ("",)),
    "wma": (kernel.WMA, ("period",), ("",)),
    "macd": (kernel.MACD, ("fast", "slow", "signal"), ("line", "signal", "hist")),
    "rsi": (kernel.RSI, ("period",), ("",)),
    "stoch": (kernel.STOCH, ("k_period", "d_period"), ("k", "d")),
    "adx": (kernel.ADX, ("period",), ("adx", "plus_di", "minus_di")),
    "atr": (kernel.ATR, ("period",), ("",)),
    "bollinger": (kernel.BOLLINGER, ("period",), ("upper", "middle", "lower")),
    "zscore": (kernel.ZSCORE, ("period",), ("",)),
    "volatility": (kernel.VOLATILITY, ("period",), ("",)),
    "parkinson": (kernel.PARKINSON, ("period",), ("",)),
    "max_drawdown": (kernel.MAX_DRAWDOWN, ("period",), ("",)),
    "obv": (kernel.OBV, (), ("",)),
    "vwap": (kernel.VWAP, ("period",), ("",)),
}
"""Indicator names this module streams: kind code, integer parameters, output parts.
Bollinger takes one more, float, parameter: k, the band width in standard deviations."""

STANDARD_SPECS: tuple[Spec, ...] = (
    ("sma", 20), ("ema", 12), ("ema", 26), ("wma", 20), ("macd", 12, 26, 9), ("rsi", 14),
    ("stoch", 14, 3), ("adx", 14), ("atr", 14), ("bollinger", 20, 2.0), ("zscore", 20),
    ("volatility", 20), ("parkinson", 20), ("max_drawdown", 20), ("obv",), ("vwap", 20),
)
"""Every family once, at its customary parameters."""

_MINIMUM = {"volatility": 2, "adx": 2, "macd": 2}
"""Smallest period a family accepts where it is not 1 (a sample std needs two returns)."""


class StreamingIndicators:
    """Incremental indicators for a fixed set of assets; feed it every bar, in order."""

    def __init__(self, assets: int, specs: Sequence[Spec] = STANDARD_SPECS) -> None:
        if isinstance(assets, bool) or not isinstance(assets, (int, np.integer)) or assets < 1:
            raise ValueError(f"assets must be a positive int, got {assets!r}")
        if not specs:
            raise ValueError("specs is empty: name at least one indicator, e.g. ('ema', 12)")
        self.assets = int(assets)
        self.specs = tuple(tuple(spec) for spec in specs)
        self._layout, self._factors, self.names, width = _plan(self.specs)
        self._state = np.zeros((self.assets, max(width, 1)))
        self._bar = np.empty((5, self.assets))
        self.bars_seen = 0
        """How many bars this state has consumed (the next bar's index)."""

    def update(self, open, high, low, close, volume) -> dict[str, np.ndarray]:
        """Advance by one bar (each argument shaped (assets,), or a number for one asset) and
        return every output name mapped to its new values, shaped (assets,)."""
        bar = self._bar
        try:
            bar[0], bar[1], bar[2], bar[3], bar[4] = open, high, low, close, volume
        except ValueError as error:
            raise ValueError(f"each bar field must be shaped ({self.assets},): {error}") from None
        out = np.empty((len(self.names), self.assets))
        bad = kernel.update_all(self._state, self.bars_seen, self._layout, self._factors, bar, out)
        if bad >= 0:
            raise ValueError(_bad_bar_message(bar[:, bad], asset=bad, bar_index=self.bars_seen))
        self.bars_seen += 1
        return dict(zip(self.names, out))

    @classmethod
    def from_history(
        cls, *, open, high, low, close, volume, specs: Sequence[Spec] = STANDARD_SPECS
    ) -> StreamingIndicators:
        """A state that has consumed the given bars, each array shaped (assets × bars) or
        (bars,) for one asset: exactly as if each bar had been passed to ``update`` in turn."""
        fields = [np.asarray(x, dtype=np.float64) for x in (open, high, low, close, volume)]
        shapes = {x.shape for x in fields}
        if len(shapes) != 1 or fields[0].ndim not in (1, 2):
            raise ValueError(f"open, high, low, close, volume must share one shape "
                             f"(bars,) or (assets × bars); got {[x.shape for x in fields]}")
        grid = [x if x.ndim == 2 else x[np.newaxis, :] for x in fields]
        streaming = cls(grid[0].shape[0], specs)
        bars = np.ascontiguousarray(np.stack(grid).transpose(2, 0, 1))  # bars × 5 × assets
        out = np.empty((len(streaming.names), streaming.assets))
        done, bad = kernel.advance(streaming._state, 0, streaming._layout, streaming._factors,
                                   bars, out)
        if bad >= 0:
            raise ValueError(_bad_bar_message(bars[done, :, bad], asset=bad, bar_index=done))
        streaming.bars_seen = int(done)
        return streaming


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the streaming kernels for every family."""
    line = np.linspace(1.0, 2.0, 8)
    StreamingIndicators.from_history(open=line, high=line * 1.01, low=line * 0.99, close=line,
                                     volume=line, specs=[_smallest(name) for name in FAMILIES])
    StreamingIndicators(1, STANDARD_SPECS).update(1.0, 1.0, 1.0, 1.0, 1.0)


def _plan(specs: tuple[Spec, ...]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], int]:
    layout = np.zeros((len(specs), 6), dtype=np.int64)
    factors = np.zeros(len(specs))
    names: list[str] = []
    width = 0
    for j, spec in enumerate(specs):
        name, periods, factor = _parse(spec, index=j)
        kind, _, parts = FAMILIES[name]
        layout[j, 0], layout[j, 4], layout[j, 5] = kind, width, len(names)
        layout[j, 1 : 1 + len(periods)] = periods
        factors[j] = factor
        width += _width(name, periods)
        label = name + (f"({','.join(str(x) for x in spec[1:])})" if len(spec) > 1 else "")
        names.extend(label + (f".{part}" if part else "") for part in parts)
    if len(set(names)) != len(names):
        raise ValueError(f"specs name the same indicator twice: {sorted(names)}")
    return layout, factors, tuple(names), width


def _parse(spec: Spec, *, index: int) -> tuple[str, tuple[int, ...], float]:
    if not spec or spec[0] not in FAMILIES:
        raise ValueError(f"specs[{index}] = {spec!r}: unknown indicator; known: {', '.join(FAMILIES)}")
    name = spec[0]
    wanted = FAMILIES[name][1]
    extra = 1 if name == "bollinger" else 0
    if len(spec) != 1 + len(wanted) + extra:
        shape = ", ".join(("name",) + wanted + (("k",) if extra else ()))
        raise ValueError(f"specs[{index}] = {spec!r}: expected ({shape})")
    periods = spec[1 : 1 + len(wanted)]
    for label, period in zip(wanted, periods):
        if isinstance(period, bool) or not isinstance(period, (int, np.integer)):
            raise TypeError(f"specs[{index}] = {spec!r}: {label} must be an int")
        if period < _MINIMUM.get(name, 1):
            raise ValueError(f"specs[{index}] = {spec!r}: {label} must be >= {_MINIMUM.get(name, 1)}")
    if name == "macd" and periods[0] >= periods[1]:
        raise ValueError(f"specs[{index}] = {spec!r}: fast must be shorter than slow")
    factor = float(spec[-1]) if extra else 0.0
    if extra and not np.isfinite(factor):
        raise ValueError(f"specs[{index}] = {spec!r}: k must be a finite number")
    return name, tuple(int(p) for p in periods), factor


def _width(name: str, periods: tuple[int, ...]) -> int:
    """State slots one asset needs for this indicator (see the step functions' docstrings)."""
    if name in ("sma", "wma", "bollinger", "zscore", "parkinson", "max_drawdown"):
        return periods[0]
    if name == "volatility":
        return 1 + periods[0]
    if name == "vwap":
        return 2 * periods[0]
    if name == "stoch":
        return 2 * periods[0] + periods[1]
    return {"ema": 1, "macd": 3, "rsi": 3, "adx": 8, "atr": 2, "obv": 2}[name]


def _smallest(name: str) -> Spec:
    params = tuple(range(_MINIMUM.get(name, 1), 10))[: len(FAMILIES[name][1])]
    return (name, *params, *((2.0,) if name == "bollinger" else ()))


def _bad_bar_message(fields: np.ndarray, *, asset: int, bar_index: int) -> str:
    named = ", ".join(f"{label}={value!r}" for label, value in
                      zip(("open", "high", "low", "close", "volume"), fields.tolist()))
    return (f"bar {bar_index}, asset {asset}: {named}; prices must be finite and positive, "
            f"volume finite and >= 0 (the state is unchanged)")
