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


def cagr_pct(initial: float, final: float, *, seconds: float) -> float:
    """Compound annual growth rate over ``seconds`` of market time; 0 when undefined."""
    if initial <= 0 or final <= 0 or seconds <= 0:
        return 0.0
    return float(100.0 * ((final / initial) ** (SECONDS_PER_YEAR / seconds) - 1.0))


def sortino(equity: Sequence[float], *, bar_seconds: float) -> float:
    """Annualised Sortino ratio: mean per-bar return over the downside deviation (target 0)."""
    curve = np.asarray(equity, dtype=float)
    if curve.size < 3 or not math.isfinite(bar_seconds) or bar_seconds <= 0:
        return 0.0
    returns = np.diff(curve) / curve[:-1]
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0:
        return 0.0
    return float(np.mean(returns) / downside * math.sqrt(SECONDS_PER_YEAR / bar_seconds))


def win_rate_pct(pnls: Sequence[float]) -> float:
    """Share of trades that made money; 0 with no trades."""
    return 100.0 * sum(1 for p in pnls if p > 0) / len(pnls) if pnls else 0.0


def profit_factor(pnls: Sequence[float]) -> float:
    """Gross profit over gross loss; inf with profits and no loss, 0 with neither."""
    gains = sum(p for p in pnls if p > 0)
    losses = -sum(p for p in pnls if p < 0)
    if losses == 0:
        return math.inf if gains > 0 else 0.0
    return gains / losses


def exposure_pct(holding: Sequence[bool]) -> float:
    """Share of bars that ended with any position open."""
    return 100.0 * sum(holding) / len(holding) if holding else 0.0
