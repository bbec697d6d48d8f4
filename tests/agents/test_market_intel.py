"""MarketIntel: the snapshot at tick t holds bar t and nothing later; indicators match the kernels."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest

from agents.compute import ComputeAgent, IndicatorSpec, StandardSet
from agents.market_intel import (
    PHASE_LOOKBACK_BARS,
    MarketIntelAgent,
    classify_phase,
    trailing_volatility,
)
from core.feeds.base import MarketData
from core.feeds.synthetic import generate
from core.kernels.fused import fused
from core.kernels.indicators import atr, sma
from core.models import MarketPhase, MarketSnapshot

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SPECS = [IndicatorSpec(name="sma", period=5), IndicatorSpec(name="sma", period=40)]


@pytest.fixture(scope="module")
def compute() -> ComputeAgent:
    return ComputeAgent()


@pytest.fixture(scope="module")
def data() -> MarketData:
    return generate(assets=("BTC", "ETH"), bars=900, start=T0, seed=11)


def _intel(data: MarketData, compute: ComputeAgent, specs=SPECS) -> MarketIntelAgent:
    return MarketIntelAgent(data, compute, specs=specs)


def _market(close: np.ndarray) -> MarketData:
    """A one-or-more-asset feed from closes alone (open = previous close)."""
    closes = np.atleast_2d(np.asarray(close, dtype=np.float64))
    opens = np.concatenate([closes[:, :1], closes[:, :-1]], axis=1)
    start_ns = int(T0.timestamp()) * 1_000_000_000
    return MarketData(
        assets=("BTC", "ETH")[: closes.shape[0]],
        timestamps=start_ns + np.arange(closes.shape[1], dtype=np.int64) * 3_600_000_000_000,
        open=opens,
        high=np.maximum(opens, closes),
        low=np.minimum(opens, closes),
        close=closes,
        volume=np.full_like(closes, 1e3),
    )


def _with_future_changed(data: MarketData, t: int) -> MarketData:
    """The same feed with every bar after ``t`` replaced by something very different."""
    changed = {}
    for name in ("open", "high", "low", "close", "volume"):
        array = getattr(data, name).copy()
        array[:, t + 1 :] *= np.linspace(3.0, 0.2, array.shape[1] - t - 1)
        changed[name] = array
    return dataclasses.replace(data, **changed)


def test_snapshot_holds_bar_t_of_every_asset(data, compute):
    snapshot = _intel(data, compute).observe(300)
    assert snapshot.tick == 300
    assert snapshot.ts == data.time(300)
    assert snapshot.ts.tzinfo is not None
    assert snapshot.bars == {asset: data.bar(asset, 300) for asset in data.assets}
    assert snapshot.price("ETH") == data.close[1, 300]


@pytest.mark.parametrize("t", [0, 1, 39, 47, 48, 300, 898])
def test_changing_data_after_t_leaves_the_snapshot_identical(data, compute, t):
    original = _intel(data, compute).observe(t)
    changed = _intel(_with_future_changed(data, t), compute).observe(t)
    assert changed == original


def test_changing_bar_t_does_change_the_snapshot(data, compute):
    # guards the test above: the comparison does see a change when one is in range
    t = 300
    close = data.close.copy()
    close[:, t] *= 1.05
    moved = dataclasses.replace(data, close=close, high=np.maximum(data.high, close))
    assert _intel(moved, compute).observe(t) != _intel(data, compute).observe(t)


def test_indicators_equal_the_kernel_on_the_full_series_at_t(data, compute):
    intel = _intel(data, compute)
    full = {spec.key: sma(data.close, spec.period) for spec in SPECS}
    for t in range(0, data.n_bars, 7):
        snapshot = intel.observe(t)
        for i, asset in enumerate(data.assets):
            for key, values in full.items():
                got = snapshot.indicators[asset][key]
                if np.isnan(values[i, t]):
                    assert got is None, (t, asset, key)
                else:
                    assert got == pytest.approx(values[i, t], rel=1e-13, abs=0), (t, asset, key)


def test_previous_indicators_are_the_values_at_t_minus_one(data, compute):
    intel = _intel(data, compute)
    full = {spec.key: sma(data.close, spec.period) for spec in SPECS}
    for t in (1, 4, 5, 40, 41, 200, 450, 899):
        snapshot = intel.observe(t)
        for i, asset in enumerate(data.assets):
            for key, values in full.items():
                got = snapshot.previous_indicators[asset][key]
                if np.isnan(values[i, t - 1]):
                    assert got is None, (t, asset, key)
                else:
                    assert got == pytest.approx(values[i, t - 1], rel=1e-13, abs=0)


def test_first_tick_has_no_previous_values_and_warm_up_is_none(data, compute):
    snapshot = _intel(data, compute).observe(0)
    for asset in data.assets:
        assert snapshot.indicators[asset] == {"sma_5": None, "sma_40": None}
        assert snapshot.previous_indicators[asset] == {"sma_5": None, "sma_40": None}
    snapshot = _intel(data, compute).observe(4)
    assert snapshot.indicators["BTC"]["sma_5"] == pytest.approx(data.close[0, :5].mean())
    assert snapshot.previous_indicators["BTC"]["sma_5"] is None


@pytest.mark.parametrize("tick", [-1, 900, 10_000])
def test_tick_out_of_range_raises_index_error(data, compute, tick):
    with pytest.raises(IndexError, match=f"tick {tick} outside the feed's 900 bars"):
        _intel(data, compute).observe(tick)


def _phase_at(close: np.ndarray, t: int, compute: ComputeAgent) -> MarketPhase:
    return _intel(_market(close), compute).observe(t).phase


def test_rising_market_is_bull(compute):
    close = 100 * 1.002 ** np.arange(120)  # +10% over 48 bars
    assert _phase_at(close, 100, compute) is MarketPhase.BULL


def test_falling_market_is_bear(compute):
    close = 100 * 0.998 ** np.arange(120)
    assert _phase_at(close, 100, compute) is MarketPhase.BEAR


def test_flat_market_is_sideways(compute):
    close = 100 + np.sin(np.arange(120)) * 0.5  # moves, but within ±3%
    assert _phase_at(close, 100, compute) is MarketPhase.SIDEWAYS


def test_phase_is_unknown_before_the_lookback_fills(compute):
    close = 100 * 1.01 ** np.arange(120)
    assert _phase_at(close, PHASE_LOOKBACK_BARS - 1, compute) is MarketPhase.UNKNOWN
    assert _phase_at(close, PHASE_LOOKBACK_BARS, compute) is MarketPhase.BULL


def test_phase_follows_the_lead_asset_only(compute):
    lead_flat = np.full(120, 100.0)
    other_rising = 100 * 1.01 ** np.arange(120)
    data = _market(np.vstack([lead_flat, other_rising]))
    assert _intel(data, compute).observe(100).phase is MarketPhase.SIDEWAYS


@pytest.mark.parametrize(
    ("change", "expected"),
    [(0.031, MarketPhase.BULL), (0.029, MarketPhase.SIDEWAYS),
     (-0.029, MarketPhase.SIDEWAYS), (-0.031, MarketPhase.BEAR)],
)
def test_phase_threshold_is_three_percent_over_the_lookback(change, expected):
    close = np.full(PHASE_LOOKBACK_BARS + 1, 100.0)
    close[-1] = 100.0 * (1 + change)
    assert classify_phase(close) is expected


def test_volatility_is_the_std_of_trailing_log_returns(data, compute):
    t = 500
    snapshot = _intel(data, compute).observe(t)
    window = data.close[0, t - PHASE_LOOKBACK_BARS : t + 1]
    expected = np.std(np.diff(np.log(window)), ddof=1)
    assert snapshot.volatility["BTC"] == pytest.approx(expected)
    assert trailing_volatility(np.array([1.0, 2.0])) is None
    assert trailing_volatility(100 * 1.01 ** np.arange(10)) == pytest.approx(0.0, abs=1e-12)


def test_standard_set_and_specs_arrive_in_one_snapshot_equal_to_the_full_series(data, compute):
    standard = StandardSet()
    specs = [*SPECS, IndicatorSpec(name="atr", period=10)]
    intel = MarketIntelAgent(data, compute, specs=specs, standard=standard)
    full = fused(high=data.high, low=data.low, close=data.close, params=standard.params())
    expected = {key: getattr(full, field) for field, key in standard.keys().items()}
    expected["atr_10"] = atr(data.high, data.low, data.close, 10)
    calls = compute.health()["calls"]
    for t in (0, 11, 25, 200, 261, 262, 600, 899):
        snapshot = intel.observe(t)
        for i, asset in enumerate(data.assets):
            got = snapshot.indicators[asset]
            assert set(got) == {"sma_5", "sma_40", "atr_10", *standard.keys().values()}
            for key, values in expected.items():
                if np.isnan(values[i, t]):
                    assert got[key] is None, (t, asset, key)
                else:
                    # inside the trailing window the Wilder/EMA seeds have decayed to noise
                    assert got[key] == pytest.approx(values[i, t], rel=1e-7), (t, asset, key)
    assert compute.health()["calls"] == calls + 8  # one batched call per tick


def test_the_window_covers_the_longest_look_back_requested(data, compute):
    plain = MarketIntelAgent(data, compute, specs=SPECS)
    with_macd = MarketIntelAgent(
        data, compute, specs=[*SPECS, IndicatorSpec(name="macd", period=12, slow=50, signal=20)]
    )
    assert plain.window == 10 * 40 + 2
    assert with_macd.window == 10 * 70 + 2


@pytest.mark.parametrize("tick", [0, 1, 29, 48, 49, 500, 899])
def test_a_precomputed_snapshot_is_the_validated_snapshot_of_the_whole_feed_columns(
        data, compute, tick):
    """The backtest path (one block, no re-validation) builds exactly the snapshot that
    validating bar t, the whole-feed indicator columns t and t-1, and each asset's trailing
    volatility gives, and that snapshot passes validation."""
    intel = MarketIntelAgent(data, compute, specs=SPECS, standard=StandardSet(), precompute=True)
    whole = intel.indicator_arrays()
    fast = intel.observe(tick)

    def column(t: int, i: int) -> dict:
        return {k: (None if np.isnan(v[i, t]) else float(v[i, t])) for k, v in whole.items()}

    expected = MarketSnapshot(
        tick=tick, ts=data.time(tick),
        bars={asset: data.bar(asset, tick) for asset in data.assets},
        indicators={asset: column(tick, i) for i, asset in enumerate(data.assets)},
        previous_indicators={asset: column(tick - 1, i) if tick else dict.fromkeys(whole)
                             for i, asset in enumerate(data.assets)},
        volatility={asset: trailing_volatility(data.close[i, : tick + 1])
                    for i, asset in enumerate(data.assets)},
        phase=classify_phase(data.close[0, : tick + 1]),
    )
    assert fast.model_dump() == expected.model_dump()
    assert MarketSnapshot.model_validate(fast.model_dump()) == expected


def test_a_precomputed_snapshot_builds_an_asset_only_when_read_and_copies_as_plain_dicts(
        data, compute):
    """Reading one asset of a backtest snapshot builds that asset's bar, indicators and
    volatility alone; a pickled copy (another process) is the plain snapshot, equal to it."""
    import pickle

    intel = MarketIntelAgent(data, compute, specs=SPECS, precompute=True)
    snapshot = intel.observe(60)
    first, second = data.assets[0], data.assets[1]
    assert snapshot.bars[second].close == snapshot.closes()[second] == data.close[1, 60]
    assert snapshot.volatility.get(second) == trailing_volatility(data.close[1, :61])
    assert snapshot.indicators.get("NOPE", "absent") == "absent" and "NOPE" not in snapshot.bars
    assert [a for a in (first, second) if a in snapshot.bars._built] == [second]
    assert list(snapshot.bars) == list(data.assets) and len(snapshot.indicators) == len(data.assets)

    copied = pickle.loads(pickle.dumps(snapshot))
    assert type(copied.bars) is dict and type(copied.previous_indicators) is dict
    assert copied == snapshot and copied.bars[first] == data.bar(first, 60)


def test_trailing_volatility_is_numpys_sample_std_of_the_log_returns_to_the_bit():
    rng = np.random.default_rng(11)
    for n in (*range(1, 60), 200):
        for scale, step in ((1e-6, 1e-4), (1.0, 0.01), (1e6, 0.3)):
            close = np.exp(np.cumsum(rng.normal(0, step, n))) * scale
            window = close[-PHASE_LOOKBACK_BARS - 1 :]
            expected = float(np.std(np.diff(np.log(window)), ddof=1)) if n >= 3 else None
            assert trailing_volatility(close) == expected, (n, scale)
