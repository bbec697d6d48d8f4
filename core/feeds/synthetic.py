"""Seeded synthetic market data: regime-switching, fat-tailed, correlated OHLCV candles.

Tests, examples and benchmarks use it when no real files are given. Every random number comes
from ``np.random.SeedSequence(seed)``: the same arguments give bit-identical arrays. Each random
component (the regime walk; each asset's shocks, wicks and volume noise) has its own child
stream drawing one value per bar in bar order, and nothing is normalised over the whole series,
so a shorter series is exactly the first bars of a longer one with the same seed. It must never
touch global random state, the clock or the network.

The model: a Markov chain over market regimes (bull, bear, calm, crisis) sets each bar's drift
and volatility; Student-t shocks, correlated across assets by a Cholesky factor, move the log
close; candles are drawn around the close path and volume rises with the size of the move.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from numba import njit

from core.feeds.base import MarketData

REGIMES = ("bull", "bear", "calm", "crisis")
_DRIFT_PER_DAY = np.array([0.004, -0.004, 0.0005, -0.015])  # log drift of a BTC-like asset
_VOL_MULTIPLIER = np.array([1.0, 1.3, 0.6, 2.5])  # relative; rescaled so the long-run mix is 1
_MEAN_DAYS = np.array([40.0, 25.0, 30.0, 5.0])  # expected time spent in a regime once entered
_NEXT_REGIME = np.array(  # where a regime goes when it ends; rows sum to 1
    [
        [0.00, 0.35, 0.50, 0.15],
        [0.30, 0.00, 0.40, 0.30],
        [0.45, 0.40, 0.00, 0.15],
        [0.20, 0.60, 0.20, 0.00],
    ]
)
_T_DEGREES_OF_FREEDOM = 4.0
_WICK_SCALE = 0.5  # wick length in units of the bar's volatility

_DAILY_VOL = {"BTC": 0.035, "ETH": 0.045}
_DEFAULT_DAILY_VOL = 0.045
_PAIR_CORRELATION = {frozenset(("BTC", "ETH")): 0.8}
_DEFAULT_CORRELATION = 0.6
_START_PRICE = {"BTC": 42_000.0, "ETH": 2_300.0}
_DEFAULT_START_PRICE = 100.0
_DAILY_VOLUME_USD = {"BTC": 2.0e10, "ETH": 1.0e10}
_DEFAULT_DAILY_VOLUME_USD = 5.0e8

_SYMBOL = re.compile(r"^[A-Z0-9]{1,16}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_NS = np.iinfo(np.int64).max


def generate(
    *,
    assets: Sequence[str] = ("BTC", "ETH"),
    bars: int,
    bar_seconds: int = 3600,
    start: datetime,
    seed: int,
    start_prices: Mapping[str, float] | None = None,
) -> MarketData:
    """Deterministic regime-switching OHLCV for ``assets``: same arguments, same arrays."""
    symbols = _checked_assets(assets)
    bars = _positive_int("bars", bars)
    bar_seconds = _positive_int("bar_seconds", bar_seconds)
    first_prices = _start_prices(symbols, start_prices)
    timestamps = _timestamps(start, bars, bar_seconds)

    regime_stream, asset_streams = _streams(seed, len(symbols))
    days_per_bar = bar_seconds / 86_400
    transition = _transition_matrix(days_per_bar)
    stationary = _stationary(transition)
    vol_multiplier = _VOL_MULTIPLIER / math.sqrt(float(stationary @ _VOL_MULTIPLIER**2))
    regime = _walk(np.cumsum(transition, axis=1), np.cumsum(stationary), regime_stream.random(bars))

    daily_vol = np.array([_DAILY_VOL.get(s, _DEFAULT_DAILY_VOL) for s in symbols])
    bar_vol = daily_vol[:, None] * vol_multiplier[regime][None, :] * math.sqrt(days_per_bar)
    drift = _DRIFT_PER_DAY[regime][None, :] * (daily_vol[:, None] / _DAILY_VOL["BTC"])
    shocks = _correlated_t_shocks(asset_streams, symbols, bars)
    log_returns = drift * days_per_bar - 0.5 * bar_vol**2 + bar_vol * shocks

    close = first_prices[:, None] * np.exp(np.cumsum(log_returns, axis=1))
    open_ = np.empty_like(close)
    open_[:, 0] = first_prices
    open_[:, 1:] = close[:, :-1]
    upper = np.stack([streams["upper_wick"].standard_normal(bars) for streams in asset_streams])
    lower = np.stack([streams["lower_wick"].standard_normal(bars) for streams in asset_streams])
    high = np.maximum(open_, close) * np.exp(np.abs(upper) * (_WICK_SCALE * bar_vol))
    low = np.minimum(open_, close) * np.exp(-np.abs(lower) * (_WICK_SCALE * bar_vol))
    noise = np.stack([streams["volume"].lognormal(0.0, 0.25, bars) for streams in asset_streams])
    volume = _volume(symbols, first_prices, days_per_bar, shocks, vol_multiplier[regime], noise)

    return MarketData(
        assets=symbols,
        timestamps=timestamps,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        source=f"synthetic(seed={seed})",
        quote="USD",
    )


_ASSET_COMPONENTS = ("shock", "upper_wick", "lower_wick", "volume")


def _streams(
    seed: int, n_assets: int
) -> tuple[np.random.Generator, list[dict[str, np.random.Generator]]]:
    """The regime walk's stream, and one stream per component of each asset, all from ``seed``.

    Each stream yields one value per bar in bar order, so the first n values do not depend on
    how many bars are drawn.
    """
    regime, *assets = np.random.SeedSequence(seed).spawn(1 + n_assets)
    per_asset = [
        {name: np.random.default_rng(child)
         for name, child in zip(_ASSET_COMPONENTS, asset.spawn(len(_ASSET_COMPONENTS)))}
        for asset in assets
    ]
    return np.random.default_rng(regime), per_asset


def _checked_assets(assets: Sequence[str]) -> tuple[str, ...]:
    if isinstance(assets, str):
        raise ValueError(f"assets must be a sequence of symbols, not the string {assets!r}")
    symbols = tuple(assets)
    if not symbols:
        raise ValueError("assets must name at least one symbol")
    for symbol in symbols:
        if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
            raise ValueError(f"assets: {symbol!r} is not an upper-case symbol like 'BTC'")
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise ValueError(f"assets must be unique; repeated: {', '.join(repeated)}")
    return symbols


def _positive_int(name: str, value: object) -> int:
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return number


def _start_prices(symbols: tuple[str, ...], given: Mapping[str, float] | None) -> np.ndarray:
    given = dict(given or {})
    unknown = sorted(set(given) - set(symbols))
    if unknown:
        raise ValueError(f"start_prices names assets not in assets: {', '.join(unknown)}")
    for symbol, price in given.items():
        if not (isinstance(price, (int, float)) and math.isfinite(price) and price > 0):
            raise ValueError(f"start_prices[{symbol!r}] must be a positive number, got {price!r}")
    defaults = {s: _START_PRICE.get(s, _DEFAULT_START_PRICE) for s in symbols}
    return np.array([float(given.get(s, defaults[s])) for s in symbols])


def _timestamps(start: datetime, bars: int, bar_seconds: int) -> np.ndarray:
    if not isinstance(start, datetime) or start.utcoffset() is None:
        raise ValueError(f"start must be a timezone-aware datetime (UTC), got {start!r}")
    start_ns = (start.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1) * 1_000
    step_ns = bar_seconds * 1_000_000_000
    if start_ns < 0 or start_ns + (bars - 1) * step_ns > _MAX_NS:
        raise ValueError("start, bars and bar_seconds must keep every bar between 1970 and 2262")
    return start_ns + np.arange(bars, dtype=np.int64) * np.int64(step_ns)


def _transition_matrix(days_per_bar: float) -> np.ndarray:
    stay = np.exp(-days_per_bar / _MEAN_DAYS)
    transition = (1.0 - stay)[:, None] * _NEXT_REGIME
    transition[np.diag_indices_from(transition)] = stay
    return transition


def _stationary(transition: np.ndarray) -> np.ndarray:
    """Long-run share of bars spent in each regime: solves pi P = pi, sum(pi) = 1."""
    n = len(transition)
    system = transition.T - np.eye(n)
    system[-1] = 1.0
    target = np.zeros(n)
    target[-1] = 1.0
    return np.linalg.solve(system, target)


@njit(cache=True)
def _walk(cumulative: np.ndarray, first_cdf: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """The regime of every bar: the first from ``first_cdf``, then one Markov step per bar."""
    regimes = np.empty(uniforms.size, np.int64)
    state = np.searchsorted(first_cdf, uniforms[0], side="right")
    state = min(state, first_cdf.size - 1)
    regimes[0] = state
    last = cumulative.shape[1] - 1
    for t in range(1, uniforms.size):
        u = uniforms[t]
        k = 0
        while k < last and u >= cumulative[state, k]:
            k += 1
        state = k
        regimes[t] = state
    return regimes


def _correlated_t_shocks(
    asset_streams: list[dict[str, np.random.Generator]], symbols: tuple[str, ...], bars: int
) -> np.ndarray:
    n = len(symbols)
    correlation = np.full((n, n), _DEFAULT_CORRELATION)
    for i in range(n):
        for j in range(n):
            pair = frozenset((symbols[i], symbols[j]))
            correlation[i, j] = 1.0 if i == j else _PAIR_CORRELATION.get(pair, correlation[i, j])
    df = _T_DEGREES_OF_FREEDOM
    raw_t = np.stack([streams["shock"].standard_t(df, bars) for streams in asset_streams])
    unit_t = raw_t * math.sqrt((df - 2.0) / df)  # fixed scale: unit variance for any length
    # Row by row rather than a matrix product: BLAS picks kernels by array length, and a
    # different rounding would break "a shorter series is a prefix of a longer one".
    factor = np.linalg.cholesky(correlation)
    shocks = np.zeros_like(unit_t)
    for i in range(n):
        for j in range(i + 1):
            shocks[i] += factor[i, j] * unit_t[j]
    return shocks


def _volume(symbols, first_prices, days_per_bar, shocks, regime_vol, noise) -> np.ndarray:
    """Base-asset volume: a typical day's turnover, larger in big moves and turbulent regimes."""
    daily_usd = np.array([_DAILY_VOLUME_USD.get(s, _DEFAULT_DAILY_VOLUME_USD) for s in symbols])
    typical = daily_usd / first_prices * days_per_bar
    activity = (0.4 + 0.6 * np.abs(shocks)) * regime_vol[None, :]
    return typical[:, None] * activity * noise
