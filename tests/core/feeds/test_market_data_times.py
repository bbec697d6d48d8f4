"""MarketData.times: a run of bars' open times in one pass, the same datetimes as ``time``
bar by bar (coasted runs of a backtest take their equity curve's times from it)."""

from __future__ import annotations

from datetime import UTC

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.feeds.base import MarketData


def market(stamps: np.ndarray) -> MarketData:
    ones = np.ones((1, len(stamps)))
    return MarketData(assets=("BTC",), timestamps=stamps, open=ones, high=ones, low=ones,
                      close=ones, volume=ones)


@settings(max_examples=300, deadline=None)
@given(
    start_s=st.integers(0, 2**32 + 10**8),  # past the fast path's last exact second too
    step_ns=st.sampled_from([1, 999, 1000, 123_456_789, 10**9, 300 * 10**9]),
    offset_ns=st.integers(0, 2_000),
    bars=st.integers(1, 80),  # both sides of the vector threshold
)
def test_times_are_the_datetimes_time_gives_bar_by_bar(start_s, step_ns, offset_ns, bars):
    stamps = start_s * 10**9 + offset_ns + np.arange(bars, dtype=np.int64) * step_ns
    data = market(stamps)
    got = data.times(0, bars)
    assert got == [data.time(t) for t in range(bars)]
    assert all(type(ts) is type(data.time(0)) and ts.tzinfo is UTC for ts in got)
    assert [ts.isoformat() for ts in got] == [data.time(t).isoformat() for t in range(bars)]


@pytest.mark.parametrize(("start", "stop"), [(0, 100), (7, 93), (50, 51), (99, 100)])
def test_a_slice_of_the_bars_gives_that_slice(start, stop):
    data = market(1_704_067_200 * 10**9 + np.arange(100, dtype=np.int64) * 300 * 10**9)
    assert data.times(start, stop) == [data.time(t) for t in range(start, stop)]
