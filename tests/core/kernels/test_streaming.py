"""Streaming indicators equal TA-Lib and the batch kernels at every bar of the real candles.

The helpers above the tests (the spec set, feeding bars one at a time, the references) are
shared with ``test_streaming_state.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.feeds.synthetic import generate
from core.kernels.streaming import FAMILIES, STANDARD_SPECS, StreamingIndicators

SPECS = STANDARD_SPECS + (
    ("sma", 2), ("ema", 50), ("wma", 2), ("macd", 5, 35, 5), ("rsi", 2), ("stoch", 5, 1),
    ("adx", 2), ("atr", 1), ("bollinger", 5, 1.5), ("zscore", 2), ("volatility", 2),
    ("parkinson", 1), ("max_drawdown", 2), ("vwap", 1),
)
"""Every family at its customary parameters, and again at short, edge-case ones."""


@dataclass(frozen=True)
class Bars:
    """OHLCV arrays, each (assets × bars)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def window(self, start: int, stop: int) -> Bars:
        return Bars(*(x[:, start:stop] for x in self.fields()))

    def fields(self) -> tuple[np.ndarray, ...]:
        return self.open, self.high, self.low, self.close, self.volume


def stream(streaming: StreamingIndicators, bars: Bars) -> dict[str, np.ndarray]:
    """Every output at every bar, by calling ``update`` once per bar: name -> (assets × bars)."""
    n_bars = bars.close.shape[1]
    values = {name: np.empty((streaming.assets, n_bars)) for name in streaming.names}
    for t in range(n_bars):
        result = streaming.update(*(x[:, t] for x in bars.fields()))
        for name, value in result.items():
            values[name][:, t] = value
    return values


def output_names(spec: tuple) -> list[str]:
    """The names ``StreamingIndicators`` gives this spec's outputs."""
    return list(StreamingIndicators(1, [spec]).names)


def batch_outputs(indicators, spec: tuple, bars: Bars) -> tuple[np.ndarray, ...] | None:
    """The batch function's outputs for ``spec`` in output order; None if it does not exist."""
    name, *params = spec
    function_name = "rolling_max_drawdown" if name == "max_drawdown" else name
    function = getattr(indicators, function_name, None)
    if function is None:
        return None
    _o, h, l, c, v = bars.fields()
    arguments = {
        "stoch": (h, l, c), "adx": (h, l, c), "atr": (h, l, c), "parkinson": (h, l),
        "obv": (c, v), "vwap": (h, l, c, v),
    }.get(name, (c,))
    result = function(*arguments, *params)
    outputs = result if isinstance(result, tuple) else (result,)
    assert len(outputs) == len(FAMILIES[name][2])
    return outputs


def talib_outputs(spec: tuple, bars: Bars, asset: int) -> tuple[np.ndarray, ...] | None:
    """TA-Lib's outputs for ``spec`` for one asset, with the project's documented differences
    applied (RSI 50 and %K 50 where TA-Lib gives 0 on no movement, OBV from 0); None if
    TA-Lib does not define the indicator."""
    import talib

    name, *params = spec
    _o, h, l, c, v = (x[asset] for x in bars.fields())
    if name == "rsi":
        expected = talib.RSI(c, params[0])
        flat_so_far = np.cumsum(np.abs(np.diff(c, prepend=c[0]))) == 0
        expected[flat_so_far & (expected == 0)] = 50.0
        return (expected,)
    if name == "stoch":
        k, d = talib.STOCHF(h, l, c, params[0], params[1], 0)
        return (k, d) if not _has_flat_window(h, l, params[0]) else None
    table = {
        "sma": lambda: (talib.SMA(c, *params),),
        "ema": lambda: (talib.EMA(c, *params),),
        "wma": lambda: (talib.WMA(c, *params),),
        "macd": lambda: talib.MACD(c, *params),
        "adx": lambda: (talib.ADX(h, l, c, *params), talib.PLUS_DI(h, l, c, *params),
                        talib.MINUS_DI(h, l, c, *params)),
        "atr": lambda: (talib.ATR(h, l, c, *params),),
        "bollinger": lambda: talib.BBANDS(c, params[0], params[1], params[1], 0),
        "obv": lambda: (talib.OBV(c, v) - v[0],),
    }
    return table[name]() if name in table else None


def _has_flat_window(high: np.ndarray, low: np.ndarray, period: int) -> bool:
    highest = np.lib.stride_tricks.sliding_window_view(high, period).max(axis=1)
    lowest = np.lib.stride_tricks.sliding_window_view(low, period).min(axis=1)
    return bool((highest == lowest).any())


def assert_equal_at_every_bar(
    actual: np.ndarray, expected: np.ndarray, label: str, *, zero_residue: float = 0.0
) -> None:
    """Same NaN positions, and equal to 1e-9 relative everywhere else.

    ``zero_residue`` (a fraction of the series' largest value) forgives a reference's rounding
    residue where the true value is 0: TA-Lib's running sums leave about 1e-13 of %D there.
    """
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{label}: NaN")
    scale = np.nanmax(np.abs(expected), initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=zero_residue * scale, err_msg=label)


# --- the tests --------------------------------------------------------------------------------

TALIB_ZERO_RESIDUE = 1e-14
"""TA-Lib's running sums leave up to ~2e-13 (of 100) where %D is exactly 0."""
ZSCORE_ATOL = 1e-11
"""A z-score's numerator (close - mean) cancels; any float64 mean is off by ~1e-17 of the price,
so where z is ~1e-13 only an absolute bound, in standard deviations, is meaningful."""
VOLATILITY_ATOL = 1e-15
"""Two near-equal returns (~1e-3, each stored to ~1e-19) have a std of ~1e-13 known only to
~1e-19 absolute; per-bar volatilities that matter are above 1e-6."""
CANDLES = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="module")
def candles() -> Bars:
    """ETH/BTC and LTC/BTC 5-minute candles, inner-joined on date: 2 assets × bars."""
    eth = pd.read_csv(CANDLES / "ETH_BTC-5m.csv")
    ltc = pd.read_csv(CANDLES / "LTC_BTC-5m.csv")
    both = eth.merge(ltc, on="date", suffixes=("_eth", "_ltc"), how="inner")
    assert len(both) > 5000
    fields = [np.vstack([both[f"{field}_eth"], both[f"{field}_ltc"]]).astype(np.float64)
              for field in ("open", "high", "low", "close", "volume")]
    return Bars(*fields)


@pytest.fixture(scope="module")
def streamed(candles) -> dict[str, np.ndarray]:
    return stream(StreamingIndicators(2, SPECS), candles)


NOT_IN_TALIB = {"zscore", "volatility", "parkinson", "max_drawdown", "vwap"}
"""Checked against the batch kernels and an exact reference instead."""


@pytest.mark.parametrize("spec", [s for s in SPECS if s[0] not in NOT_IN_TALIB], ids=str)
def test_streaming_equals_talib_at_every_bar(candles, streamed, spec):
    for asset in range(2):
        expected = talib_outputs(spec, candles, asset)
        assert expected is not None, f"no TA-Lib reference for {spec}"
        for name, reference in zip(output_names(spec), expected, strict=True):
            assert_equal_at_every_bar(streamed[name][asset], reference, f"{name} asset {asset}",
                                      zero_residue=TALIB_ZERO_RESIDUE)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_streaming_equals_batch_indicators_at_every_bar(candles, streamed, spec):
    from core.kernels import indicators

    expected = batch_outputs(indicators, spec, candles)
    assert expected is not None, f"core.kernels.indicators has no batch function for {spec[0]}"
    for name, reference in zip(output_names(spec), expected, strict=True):
        if spec[0] == "zscore":  # (close - mean) cancels: compare in standard deviations
            np.testing.assert_array_equal(np.isnan(streamed[name]), np.isnan(reference))
            np.testing.assert_allclose(streamed[name], reference, rtol=1e-9, atol=ZSCORE_ATOL)
        else:
            assert_equal_at_every_bar(streamed[name], reference, name)


@pytest.mark.parametrize("spec", [s for s in SPECS if s[0] in ("zscore", "volatility", "parkinson",
                                                               "bollinger", "vwap")], ids=str)
def test_dispersion_equals_exact_reference(candles, streamed, spec):
    """Windowed moments against two-pass sums in extended precision (np.longdouble)."""
    name, period, *rest = spec
    expected = exact_reference(name, period, rest, candles)
    for label, reference in zip(output_names(spec), expected, strict=True):
        if name in ("zscore", "volatility"):  # absolute floors: see ZSCORE_ATOL, VOLATILITY_ATOL
            np.testing.assert_array_equal(np.isnan(streamed[label]), np.isnan(reference))
            np.testing.assert_allclose(streamed[label], reference, rtol=1e-9,
                                       atol=ZSCORE_ATOL if name == "zscore" else VOLATILITY_ATOL)
        else:
            assert_equal_at_every_bar(streamed[label], reference, label)


def exact_reference(name: str, period: int, rest: list, bars: Bars) -> tuple[np.ndarray, ...]:
    wide = [x.astype(np.longdouble) for x in bars.fields()]
    _, high, low, close, volume = wide
    if name == "volatility":
        series = np.log(close[:, 1:] / close[:, :-1])
        lead = 1
    elif name == "parkinson":
        series = np.log(high / low) ** 2
        lead = 0
    else:
        series = close
        lead = 0
    windows = np.lib.stride_tricks.sliding_window_view(series, period, axis=1)
    mean = windows.mean(axis=2)
    m2 = ((windows - mean[..., None]) ** 2).sum(axis=2)
    if name == "vwap":
        typical = (high + low + close) / 3 * volume
        values = [np.lib.stride_tricks.sliding_window_view(typical, period, axis=1).sum(axis=2)
                  / np.lib.stride_tricks.sliding_window_view(volume, period, axis=1).sum(axis=2)]
    elif name == "bollinger":
        width = rest[0] * np.sqrt(m2 / period)
        values = [mean + width, mean, mean - width]
    elif name == "zscore":
        std = np.sqrt(m2 / period)
        values = [np.where(std == 0, 0, (windows[..., -1] - mean) / np.where(std == 0, 1, std))]
    elif name == "volatility":
        values = [np.sqrt(m2 / (period - 1))]
    else:
        values = [np.sqrt(windows.mean(axis=2) / (4 * np.log(np.longdouble(2))))]
    padded = []
    for value in values:
        out = np.full(bars.close.shape, np.nan)
        out[:, lead + period - 1 :] = value.astype(np.float64)
        padded.append(out)
    return tuple(padded)


def test_a_long_stream_does_not_drift_from_talib():
    """20,000 synthetic bars: window sums are recomputed from the ring, so no error accumulates."""
    data = generate(assets=("ETH",), bars=20_000, start=datetime(2024, 1, 1, tzinfo=UTC), seed=3)
    bars = Bars(data.open, data.high, data.low, data.close, data.volume)
    specs = [("sma", 20), ("wma", 30), ("bollinger", 20, 2.0), ("stoch", 14, 3), ("macd", 12, 26, 9),
             ("adx", 14), ("atr", 14), ("rsi", 14)]
    values = stream(StreamingIndicators(1, specs), bars)
    for spec in specs:
        expected = talib_outputs(spec, bars, 0)
        assert expected is not None
        for name, reference in zip(output_names(spec), expected, strict=True):
            assert_equal_at_every_bar(values[name][0], reference, name,
                                      zero_residue=TALIB_ZERO_RESIDUE)
