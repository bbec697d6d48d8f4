"""Argument checks for ``core.kernels.indicators``: every error names the argument at fault.

Kernels trust their inputs; this is where bad ones are refused, before any compiled code runs.
"""

from __future__ import annotations

import math

import numpy as np


def as_series(values: np.ndarray, argument: str = "close") -> np.ndarray:
    """``values`` as contiguous float64 shaped (bars,) or (assets × bars), read only.

    Read only whatever the caller passed (a view, no copy): arrays from Ray's object store are,
    and Numba compiles a kernel once per mix of writable and read-only inputs."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{argument} must be 1-D (bars) or 2-D (assets × bars), got shape {x.shape}"
        )
    if x.flags.writeable:
        x = x.view()
        x.flags.writeable = False
    return x


def as_matching(**named: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each keyword as a series; all must share the first one's shape."""
    arrays = {name: as_series(values, name) for name, values in named.items()}
    first_name, first = next(iter(arrays.items()))
    for name, x in arrays.items():
        if x.shape != first.shape:
            raise ValueError(
                f"{name} has shape {x.shape} but {first_name} has shape {first.shape}; they must match"
            )
    return tuple(arrays.values())


def period(value: int, argument: str = "period", *, minimum: int = 1) -> int:
    """``value`` as an int, refused unless it is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{argument} must be >= {minimum}, got {value}")
    return int(value)


def factor(value: float, argument: str) -> float:
    """``value`` as a float, refused unless it is a finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{argument} must be a finite number >= 0, got {value}")
    return float(value)


def positive(x: np.ndarray, argument: str) -> None:
    """Refuse ``x`` unless every value is > 0 (logs and ratios of prices need that)."""
    bad = ~(x > 0.0)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{argument} must be > 0, got {x[where]} at index {where[0] if len(where) == 1 else where}"
        )


def non_negative(x: np.ndarray, argument: str) -> None:
    """Refuse ``x`` unless every value is >= 0."""
    bad = ~(x >= 0.0)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{argument} must be >= 0, got {x[where]} at index {where[0] if len(where) == 1 else where}"
        )
