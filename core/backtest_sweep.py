"""Walk-forward parameter sweeps: the grid, the folds, the choice of the best, the stitching.

`--sweep k=start:stop:step` axes make a grid of parameter sets. The bars are split into rolling
folds: each fold trains on ``train`` bars and tests on the ``test`` bars right after them, and
the test windows follow one another without gap or overlap, so their stitched equity is one
out-of-sample curve. On each fold the best parameter set by the chosen metric on the train
window is the one tested. Pure functions: nothing here runs a backtest or prints.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from core.backtest_params import InputError
from core.backtest_runs import RunResult
from core.metrics import max_drawdown_pct, return_pct, sharpe, sortino

METRICS = {
    # name: (payload key, True when higher is better)
    "sharpe": ("sharpe", True),
    "sortino": ("sortino", True),
    "return": ("return_pct", True),
    "cagr": ("cagr_pct", True),
    "profit_factor": ("profit_factor", True),
    "win_rate": ("win_rate_pct", True),
    "max_drawdown": ("max_drawdown_pct", False),
}
"""What --metric accepts, and which way is better."""
MAX_GRID = 10_000
"""More parameter sets than this is almost surely a typo in a step."""


class SweepError(InputError):
    """A --sweep, --folds or --train-fraction the user must fix; the message names it."""


@dataclass(frozen=True)
class Axis:
    """One swept parameter and the values it takes, in order."""

    key: str
    values: tuple[int | float, ...]


@dataclass(frozen=True)
class Fold:
    """Bar indices of one walk-forward fold: train on [train_start, test_start), test on
    [test_start, test_stop)."""

    number: int
    train_start: int
    test_start: int
    test_stop: int


def parse_axis(spec: str, *, known: set[str]) -> Axis:
    """``fast=5:20:5`` → Axis("fast", (5, 10, 15, 20)); ``stop`` is included when on the step."""
    key, sep, ranged = spec.partition("=")
    key = key.strip()
    parts = ranged.split(":")
    if not sep or not key or len(parts) != 3 or not all(p.strip() for p in parts):
        raise SweepError(f"--sweep {spec!r}: expected key=start:stop:step, e.g. fast=5:20:5")
    if key not in known:
        raise SweepError(f"--sweep {spec!r}: unknown parameter {key!r}; "
                         f"known: {', '.join(sorted(known, key=lambda k: ('.' in k, k)))}")
    try:
        numbers = [_number(p.strip()) for p in parts]
    except ValueError:
        raise SweepError(f"--sweep {spec!r}: start, stop and step must be numbers") from None
    start, stop, step = numbers
    if not step > 0:
        raise SweepError(f"--sweep {spec!r}: step is {step}, it must be above 0")
    if stop < start:
        raise SweepError(f"--sweep {spec!r}: stop {stop} is below start {start}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_GRID:
        raise SweepError(f"--sweep {spec!r}: {count:,} values; at most {MAX_GRID:,}")
    if all(isinstance(n, int) for n in numbers):
        values: tuple[int | float, ...] = tuple(start + i * step for i in range(count))
    else:  # a whole number stays one: fast=5:6:0.5 gives 5, 5.5, 6, not 5.0 (an int field's label)
        values = tuple(_whole(round(start + i * step, 12)) for i in range(count))
    return Axis(key, values)


def grid(axes: list[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    keys = [axis.key for axis in axes]
    if len(set(keys)) != len(keys):
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        raise SweepError(f"--sweep: {', '.join(repeated)} swept twice")
    size = math.prod(len(axis.values) for axis in axes)
    if size > MAX_GRID:
        raise SweepError(f"--sweep: {size:,} parameter sets; at most {MAX_GRID:,}")
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(axis.values for axis in axes))]


def make_folds(n_bars: int, *, count: int, train_fraction: float) -> list[Fold]:
    """Rolling walk-forward folds over ``n_bars``: each train window is ``train_fraction`` of
    its fold; the test windows are consecutive and end at the last bar."""
    if count < 1:
        raise SweepError(f"--folds {count}: expected 1 or more")
    if not 0 < train_fraction < 1:
        raise SweepError(f"--train-fraction {train_fraction}: expected a number between 0 and 1")
    # n = train + count * test, with train / (train + test) = train_fraction
    test = int(n_bars / (count + train_fraction / (1 - train_fraction)))
    train = n_bars - count * test
    if test < 2 or train < 2:
        raise SweepError(f"--folds {count} --train-fraction {train_fraction:g}: {n_bars} bars give "
                         f"train windows of {train} and test windows of {test} bars; "
                         "at least 2 each (use fewer folds or more bars)")
    return [Fold(i + 1, i * test, i * test + train, (i + 1) * test + train) for i in range(count)]


def best(results: list[RunResult], metric: str) -> RunResult:
    """The run with the best ``metric``; the first one in grid order on a tie."""
    key, higher = METRICS[metric]

    def score(result: RunResult) -> float:
        value = result.metric(key)
        return -math.inf if math.isnan(value) else (value if higher else -value)

    return max(results, key=score)  # max keeps the first of equals


def stitched(tests: list[RunResult], *, initial: float) -> dict[str, float]:
    """Out-of-sample figures of the test windows chained end to end: each window's equity is
    rescaled to start where the previous one ended (every window starts with ``initial``)."""
    curve: list[float] = []
    for result in tests:
        scale = (curve[-1] if curve else initial) / initial
        curve.extend(e * scale for e in result.equity)
    bar_seconds = tests[0].bar_seconds if tests else float("nan")
    final = curve[-1] if curve else initial
    return {
        "bars": len(curve),
        "return_pct": return_pct(initial, final),
        "max_drawdown_pct": max_drawdown_pct(curve),
        "sharpe": sharpe(curve, bar_seconds=bar_seconds),
        "sortino": sortino(curve, bar_seconds=bar_seconds),
        "number_of_trades": sum(r.payload["number_of_trades"] for r in tests),
        "final_equity": final,
    }


def _whole(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text) from None
        return value
