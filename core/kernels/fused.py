"""The standard indicator set of every asset in one Numba pass: what MarketIntel needs each tick.

EMA fast and slow, RSI, ATR, Bollinger bands and volatility from (assets × bars) high, low and
close arrays, each equal to its separate TA-Lib (or pandas) computation after warm-up, with the
same NaN warm-up. Conventions, as in ``core.kernels.indicators``:

- EMA: alpha = 2 / (period + 1), seeded with the SMA of the first ``period`` closes; first value
  at ``period - 1`` (TA-Lib).
- RSI: Wilder, seeded with the mean gain/loss of the first ``period`` changes; first value at
  ``period``. 50 when average gain and loss are both 0 (TA-Lib returns 0, "oversold").
- ATR: Wilder over the true range; first value at ``period``, the mean of the true ranges of
  bars 1..period (TA-Lib).
- Bollinger: SMA ± k × population std over ``period`` closes (TA-Lib BBANDS, matype 0); first
  value at ``period - 1``. A window of identical closes has std exactly 0 (TA-Lib's sum-of-squares
  formula leaves rounding noise there).
- Volatility: sample std (ddof=1) of log returns over ``window`` bars, per bar (not annualised);
  first value at ``window`` (pandas ``log(close).diff().rolling(window).std()``).

Values are causal: bar t reads bars 0..t only. This module validates; ``_fused`` computes.
It never reads files or the clock.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numba
import numpy as np

from core.kernels import _fused

LOG_SPLIT_VALUES = 1 << 18
"""From this many closes on, ``np.log`` runs in a slice per Numba thread (numpy releases the
GIL): below it, handing half to another thread costs more than it saves."""

_LOG_SLAB = _fused.N_OUTPUTS
"""The block's last slab holds ``log(close)`` for the kernel; callers never see it."""


@dataclass(frozen=True)
class FusedParams:
    """Periods of the standard set; the defaults are the usual ones."""

    ema_fast: int = 12
    ema_slow: int = 26
    rsi: int = 14
    atr: int = 14
    bollinger: int = 20
    bollinger_k: float = 2.0
    volatility: int = 20

    def __post_init__(self) -> None:
        for name in ("ema_fast", "ema_slow", "rsi", "atr", "bollinger"):
            _check_int(getattr(self, name), name, minimum=1)
        _check_int(self.volatility, "volatility", minimum=2)  # a sample std needs two returns
        k = self.bollinger_k
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not np.isfinite(k) or k < 0:
            raise ValueError(f"bollinger_k must be a finite number >= 0, got {k!r}")


@dataclass(frozen=True)
class FusedIndicators:
    """The standard set: every field is float64 shaped like the input, NaN during warm-up."""

    ema_fast: np.ndarray
    ema_slow: np.ndarray
    rsi: np.ndarray
    atr: np.ndarray
    bb_upper: np.ndarray
    bb_middle: np.ndarray
    bb_lower: np.ndarray
    volatility: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Field name → array."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_ROWS = {
    "ema_fast": _fused.EMA_FAST,
    "ema_slow": _fused.EMA_SLOW,
    "rsi": _fused.RSI,
    "atr": _fused.ATR,
    "bb_upper": _fused.BB_UPPER,
    "bb_middle": _fused.BB_MIDDLE,
    "bb_lower": _fused.BB_LOWER,
    "volatility": _fused.VOLATILITY,
}


def fused(
    *,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    params: FusedParams | None = None,
    out: np.ndarray | None = None,
) -> FusedIndicators:
    """The standard set for every row of (assets × bars) arrays, or one (bars,) series.

    ``out``, when given, is a float64 block from ``output_block(close.shape)`` that receives the
    results (the returned arrays are views into it): a caller that computes every tick reuses
    one block instead of mapping fresh memory each time. It overwrites what the block held.
    """
    params = params if params is not None else FusedParams()
    c = _as_prices(close, "close")
    h = _as_prices(high, "high")
    lo = _as_prices(low, "low")
    for name, array in (("high", h), ("low", lo)):
        if array.shape != c.shape:
            raise ValueError(f"{name} has shape {array.shape}, close has {c.shape}; they must match")
    block = output_block(c.shape) if out is None else _check_block(out, c.shape)
    log_close = block[_LOG_SLAB]
    _parallel_log(c, log_close)
    if c.ndim == 1:
        c, h, lo, log_close = (a[np.newaxis, :] for a in (c, h, lo, log_close))
    _fused.fused_2d(
        h, lo, c, log_close, params.ema_fast, params.ema_slow, params.rsi, params.atr,
        params.bollinger, float(params.bollinger_k), params.volatility,
        block[:_LOG_SLAB].reshape((_fused.N_OUTPUTS, *c.shape)),
    )
    return FusedIndicators(**{name: block[row] for name, row in _ROWS.items()})


def output_block(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float64 block for ``fused(..., out=)``: one slab per output, and one
    more for the log of the closes (scratch the kernel reads)."""
    return np.empty((_fused.N_OUTPUTS + 1, *shape))


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernel, so the first real call is fast."""
    close = np.vstack([np.linspace(1.0, 2.0, 40), np.linspace(2.0, 1.0, 40)])
    fused(high=close * 1.01, low=close * 0.99, close=close, params=FusedParams(3, 5, 3, 3, 4, 2.0, 3))


def _parallel_log(close: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = log(close)`` (NaN for a price <= 0, as before), in one contiguous slice per
    Numba thread when the array is large: otherwise the one serial step of the fused set."""
    flat_in, flat_out = close.reshape(-1), out.reshape(-1)
    threads = numba.get_num_threads()
    if threads < 2 or flat_in.size < LOG_SPLIT_VALUES:
        _log_slice(flat_in, flat_out)
        return
    bounds = np.linspace(0, flat_in.size, threads + 1).astype(int)
    slices = [slice(a, b) for a, b in itertools.pairwise(bounds)]
    pool = _log_pool(threads - 1)
    pending = [pool.submit(_log_slice, flat_in[s], flat_out[s]) for s in slices[1:]]
    _log_slice(flat_in[slices[0]], flat_out[slices[0]])
    for job in pending:
        job.result()


def _log_slice(values: np.ndarray, out: np.ndarray) -> None:
    with np.errstate(divide="ignore", invalid="ignore"):  # per thread: errstate is thread-local
        np.log(values, out=out)


_pool: tuple[ThreadPoolExecutor, int] | None = None  # the pool and its number of workers
_pool_lock = threading.Lock()


def _log_pool(workers: int) -> ThreadPoolExecutor:
    """One process-wide pool for the log slices, replaced by a larger one if threads grow."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[1] < workers:
            if _pool is not None:
                _pool[0].shutdown(wait=False)  # jobs already queued still run
            _pool = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="quorum-log"),
                     workers)
        return _pool[0]


def _as_prices(array: np.ndarray, name: str) -> np.ndarray:
    x = np.ascontiguousarray(array, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (bars) or 2-D (assets × bars), got shape {x.shape}")
    return x


def _check_block(out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    expected = (_fused.N_OUTPUTS + 1, *shape)
    if not isinstance(out, np.ndarray) or out.shape != expected or out.dtype != np.float64:
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"out must be a float64 block shaped {expected} (output_block), got {got}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous (use output_block)")
    return out


def _check_int(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} period must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} period must be >= {minimum}, got {value}")
