"""The shared compute agent: every indicator of every asset in one batched kernel call.

In production this class runs as one Ray actor (created by ``core.runtime``) so the Numba kernels
stay compiled and warm for every caller; here it is a plain class and must never import ray.
It computes and counts; it holds no market state between calls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from core.kernels import indicators
from core.models import Model


class IndicatorSpec(Model):
    """One indicator at one period, e.g. ``sma`` over 10 bars."""

    name: Literal["sma", "ema", "rsi"] = Field(description="Which indicator")
    period: int = Field(ge=1, description="Look-back length in bars")

    @property
    def key(self) -> str:
        """The name results are filed under, e.g. ``sma_10``."""
        return f"{self.name}_{self.period}"


class IndicatorRequest(Model):
    """The indicators a caller wants for every asset."""

    specs: tuple[IndicatorSpec, ...] = Field(description="Indicators to compute; duplicates once")


class ComputeAgent:
    """Computes indicators for all assets at once; shared by every agent that needs them."""

    def __init__(self) -> None:
        indicators.warm_up()
        self._calls = 0
        self._series_computed = 0
        self._compute_seconds = 0.0

    def indicators(
        self, close: np.ndarray, specs: Sequence[IndicatorSpec]
    ) -> dict[str, np.ndarray]:
        """Every spec for every row of ``close`` (assets × bars): key → (assets × bars) array."""
        close = np.asarray(close, dtype=np.float64)
        if close.ndim != 2:
            raise ValueError(f"close must be 2-D (assets × bars), got shape {close.shape}")
        unique = list({spec.key: spec for spec in specs}.values())
        started = time.perf_counter()
        values = indicators.batch(close, [(spec.name, spec.period) for spec in unique])
        self._compute_seconds += time.perf_counter() - started
        self._calls += 1
        self._series_computed += len(unique) * close.shape[0]
        return {spec.key: values[j] for j, spec in enumerate(unique)}

    def health(self) -> dict[str, float | int]:
        """Calls served, series computed and seconds spent in kernels since start."""
        return {
            "calls": self._calls,
            "series_computed": self._series_computed,
            "compute_seconds": self._compute_seconds,
        }
