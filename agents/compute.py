"""The shared compute agent: every indicator of every asset in one batched call per tick.

In production this class runs as one Ray actor (created by ``core.runtime``) so the Numba kernels
stay compiled and warm for every caller; here it is a plain class and must never import ray.
Its methods take and return plain numpy arrays (assets × bars) and small pydantic requests, so
Ray moves the arrays through its object store without copying them per caller.
It computes and counts; it holds no market state between calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.indicator_spec import (
    IndicatorName,
    IndicatorRequest,
    IndicatorSpec,
    StandardSet,
)
from core.kernels import fused as fused_kernels
from core.kernels import indicators

__all__ = ["ComputeAgent", "IndicatorName", "IndicatorRequest", "IndicatorSpec", "StandardSet"]


class ComputeAgent:
    """Computes indicators for all assets at once; shared by every agent that needs them."""

    def __init__(self, *, warm_up: bool = True) -> None:
        """``warm_up`` compiles (or loads from Numba's disk cache) every kernel now, so no tick
        of a live run pays for it; a backtest passes False and compiles what it calls."""
        if warm_up:
            indicators.warm_up()
            fused_kernels.warm_up()
        self._calls = 0
        self._series_computed = 0
        self._compute_seconds = 0.0
        # A Ray actor may serve a compiled-graph call on a background thread while a plain call
        # runs on its main thread; Numba's default thread pool must not be entered twice.
        self._kernels = threading.Lock()

    def compute(
        self,
        request: IndicatorRequest,
        *,
        close: np.ndarray,
        high: np.ndarray | None = None,
        low: np.ndarray | None = None,
        volume: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Everything ``request`` names for every row of (assets × bars) arrays: key → array."""
        arrays = _arrays(request, close=close, high=high, low=low, volume=volume)
        with self._kernels:
            return self._compute(request, arrays)

    def _compute(
        self, request: IndicatorRequest, arrays: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        close = arrays["close"]
        started = time.perf_counter()
        values: dict[str, np.ndarray] = {}
        if request.standard is not None:
            values.update(self._fused(request.standard, arrays))
        unique = [s for s in {s.key: s for s in request.specs}.values() if s.outputs[0] not in values]
        values.update(_batched(close, [s for s in unique if s.name in indicators.KINDS]))
        for spec in unique:
            if spec.name not in indicators.KINDS:
                values.update(_one(spec, arrays))
        self._count(started, len(unique) * close.shape[0])
        return values

    def fused(
        self,
        *,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        standard: StandardSet | None = None,
    ) -> dict[str, np.ndarray]:
        """The fused standard set of every row: result key (``StandardSet.keys``) → array."""
        request = IndicatorRequest(specs=(), standard=standard or StandardSet())
        return self.compute(request, close=close, high=high, low=low)

    def indicators(
        self, close: np.ndarray, specs: Sequence[IndicatorSpec]
    ) -> dict[str, np.ndarray]:
        """Close-only shorthand for ``compute``: every spec for every row of ``close``."""
        return self.compute(IndicatorRequest(specs=tuple(specs)), close=close)

    def health(self) -> dict[str, float | int]:
        """Calls served, series computed and seconds spent in kernels since start."""
        return {
            "calls": self._calls,
            "series_computed": self._series_computed,
            "compute_seconds": self._compute_seconds,
        }

    def _fused(self, standard: StandardSet, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = fused_kernels.fused(
            high=arrays["high"], low=arrays["low"], close=arrays["close"], params=standard.params()
        )
        self._series_computed += len(standard.keys()) * arrays["close"].shape[0]
        return {key: getattr(result, field) for field, key in standard.keys().items()}

    def _count(self, started: float, series: int) -> None:
        self._compute_seconds += time.perf_counter() - started
        self._calls += 1
        self._series_computed += series


def _batched(close: np.ndarray, specs: list[IndicatorSpec]) -> dict[str, np.ndarray]:
    """The single-period, close-only specs in one parallel kernel call."""
    if not specs:
        return {}
    values = indicators.batch(close, [(spec.name, spec.period) for spec in specs])
    return {spec.key: values[j] for j, spec in enumerate(specs)}


def _one(spec: IndicatorSpec, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One spec over every asset (the kernel runs assets in parallel)."""
    function = getattr(indicators, spec.name, None)
    if function is None:
        raise NotImplementedError(f"{spec.key}: core.kernels.indicators has no {spec.name}()")
    result = function(*(arrays[name] for name in spec.inputs), *spec.arguments)
    parts = result if isinstance(result, tuple) else (result,)
    if len(parts) != len(spec.outputs):
        raise RuntimeError(f"{spec.key}: {spec.name}() returned {len(parts)} arrays, "
                           f"expected {len(spec.outputs)}")
    return dict(zip(spec.outputs, parts, strict=True))


def _as_grid(array: Any, name: str) -> np.ndarray:
    grid = np.asarray(array, dtype=np.float64)
    if grid.ndim != 2:
        raise ValueError(f"{name} must be 2-D (assets × bars), got shape {grid.shape}")
    return grid


def _arrays(request: IndicatorRequest, **given: Any) -> dict[str, np.ndarray]:
    """The arrays the request reads, checked: 2-D, all shaped like close, none missing."""
    close = _as_grid(given["close"], "close")
    arrays = {"close": close}
    for name in ("high", "low", "volume"):
        if name not in request.inputs:
            continue
        if given[name] is None:
            needing = [s.key for s in request.specs if name in s.inputs]
            if request.standard is not None and name in ("high", "low"):
                needing.append("the standard set")
            raise ValueError(f"{', '.join(needing)} need a {name} array as well as close")
        grid = _as_grid(given[name], name)
        if grid.shape != close.shape:
            raise ValueError(f"{name} has shape {grid.shape}, close has {close.shape}; "
                             "they must match")
        arrays[name] = grid
    return arrays
