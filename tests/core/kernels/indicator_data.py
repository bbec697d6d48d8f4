"""Real candles and comparison helpers shared by the indicator tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
MARKETS = ["ETH_BTC-5m", "DASH_BTC-5m", "XRP_ETH-1m"]
"""Three markets at very different price levels (0.1, 0.07 and 0.0014)."""


def load_candles(market: str) -> dict[str, np.ndarray]:
    """``high``, ``low``, ``close`` and ``volume`` of ``../shared/data/<market>.csv`` as float64."""
    frame = pd.read_csv(DATA / f"{market}.csv")
    return {
        name: frame[name].to_numpy(dtype=np.float64)
        for name in ("high", "low", "close", "volume")
    }


def assert_matches(
    actual: np.ndarray, expected: np.ndarray, warm_up_bars: int, *, atol: float = 0.0
) -> None:
    """Same NaN warm-up length, then equal to 1e-8 relative (plus ``atol``, where one is justified)."""
    assert np.isnan(actual[:warm_up_bars]).all()
    assert not np.isnan(actual[warm_up_bars:]).any()
    assert np.isnan(expected[:warm_up_bars]).all()
    assert not np.isnan(expected[warm_up_bars:]).any()
    np.testing.assert_allclose(
        actual[warm_up_bars:], expected[warm_up_bars:], rtol=1e-8, atol=atol
    )
