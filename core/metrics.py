"""Performance figures from an equity curve: return, max drawdown, Sharpe. Pure numpy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SECONDS_PER_YEAR = 365 * 86400


def return_pct(initial: float, final: float) -> float:
    return 100.0 * (final / initial - 1.0) if initial > 0 else 0.0


def max_drawdown_pct(equity: Sequence[float]) -> float:
    """Largest peak-to-trough fall, as a positive percentage (0 for a curve that never falls)."""
    curve = np.asarray(equity, dtype=float)
    if curve.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(curve)
    return float(100.0 * np.max(1.0 - curve / peaks))


def sharpe(equity: Sequence[float], *, bar_seconds: float) -> float:
    """Annualised Sharpe ratio of per-bar simple returns (risk-free 0); 0 when undefined."""
    curve = np.asarray(equity, dtype=float)
    if curve.size < 3 or not math.isfinite(bar_seconds) or bar_seconds <= 0:
        return 0.0
    returns = np.diff(curve) / curve[:-1]
    std = float(np.std(returns, ddof=1))
    if std == 0.0:
        return 0.0
    return float(np.mean(returns) / std * math.sqrt(SECONDS_PER_YEAR / bar_seconds))
