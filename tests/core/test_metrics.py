"""The backtest summary's figures against hand computations and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.metrics import (
    SECONDS_PER_YEAR,
    cagr_pct,
    exposure_pct,
    profit_factor,
    sortino,
    win_rate_pct,
)


def test_cagr_compounds_over_market_time():
    assert cagr_pct(100, 200, seconds=SECONDS_PER_YEAR) == pytest.approx(100.0)
    assert cagr_pct(100, 200, seconds=2 * SECONDS_PER_YEAR) == pytest.approx(100 * (2**0.5 - 1))
    assert cagr_pct(100, 121, seconds=SECONDS_PER_YEAR / 2) == pytest.approx(100 * (1.21**2 - 1))
    assert cagr_pct(100, 0, seconds=SECONDS_PER_YEAR) == 0.0  # ruined: undefined, not a crash
    assert cagr_pct(100, 110, seconds=0) == 0.0


def test_sortino_uses_only_the_downside_deviation():
    equity = [100.0, 110.0, 99.0, 108.9, 108.9, 98.01]
    returns = np.diff(equity) / np.asarray(equity[:-1])
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    expected = returns.mean() / downside * math.sqrt(SECONDS_PER_YEAR / 3600)
    assert sortino(equity, bar_seconds=3600) == pytest.approx(expected)
    assert sortino([100.0, 101.0, 102.0, 103.0], bar_seconds=3600) == 0.0  # no downside
    assert sortino([100.0, 99.0], bar_seconds=3600) == 0.0  # too short


def test_win_rate_profit_factor_and_exposure():
    pnls = [10.0, -5.0, 0.0, 20.0, -10.0]
    assert win_rate_pct(pnls) == pytest.approx(40.0)  # a flat trade is not a win
    assert profit_factor(pnls) == pytest.approx(30.0 / 15.0)
    assert profit_factor([5.0]) == math.inf
    assert profit_factor([]) == 0.0 and win_rate_pct([]) == 0.0
    assert exposure_pct([True, False, True, True]) == pytest.approx(75.0)
    assert exposure_pct([]) == 0.0
