"""A walk-forward sweep from start to end: train every parameter set on every fold's train
window, keep the best by the chosen metric, run it on the fold's test window, stitch the tests.

Each run is a full pipeline backtest with its own database (core/backtest_runs.py), run in
parallel by core/backtest_parallel.py. The result is data; the CLI prints and writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.backtest_parallel import OnDone, RunAll
from core.backtest_report import metrics_only, params_text
from core.backtest_runs import RunResult, RunSpec, db_url_for
from core.backtest_sweep import Fold, best, stitched
from core.config import Settings
from core.feeds.base import MarketData

SettingsFor = Callable[[dict[str, Any]], Settings]
"""The run settings for one parameter set (the strategy table filled in)."""


@dataclass
class FoldOutcome:
    fold: Fold
    trained: list[RunResult]
    chosen: RunResult
    tested: RunResult
    warm_up: int = 0
    """Bars the chosen set's longest indicator needs before its first value. Each window is
    a backtest of its own, so a test window no longer than this cannot trade on them."""


@dataclass
class WalkForward:
    strategy: str
    metric: str
    grid: list[dict[str, Any]]
    outcomes: list[FoldOutcome]
    combined: dict[str, float]
    fixed: dict[str, Any] = field(default_factory=dict)
    """The parameters every set shares (the config's table under --param), unswept."""

    def to_dict(self, market: MarketData, *, train_fraction: float) -> dict[str, Any]:
        """The --json report: every train run's figures, each fold's choice and test run."""
        return {
            "data": market.source,
            "bars": market.n_bars,
            "strategy": self.strategy,
            "fixed_params": self.fixed,
            "metric": self.metric,
            "folds": len(self.outcomes),
            "train_fraction": train_fraction,
            "grid": self.grid,
            "per_fold": [
                {
                    "fold": o.fold.number,
                    "train": _window(market, o.fold.train_start, o.fold.test_start),
                    "test": _window(market, o.fold.test_start, o.fold.test_stop),
                    "best_params": o.chosen.params,
                    "warm_up_bars": o.warm_up,
                    "train_runs": [{"params": r.params, **metrics_only(r.payload)}
                                   for r in o.trained],
                    "test_result": {"run_id": o.tested.run_id, "head_hash": o.tested.head_hash,
                                    **o.tested.payload},
                }
                for o in self.outcomes
            ],
            "combined": self.combined,
        }


def walk_forward(
    *,
    strategy: str,
    grid: list[dict[str, Any]],
    settings_for: SettingsFor,
    folds: list[Fold],
    metric: str,
    market: MarketData,
    gate: str,
    logs_dir: Path | None,
    run_all: RunAll,
    progress: Callable[[str], OnDone],
) -> WalkForward:
    """Run the sweep with ``run_all`` (core/backtest_parallel.py); ``progress(phase)`` gives the
    callback for the runs of each phase."""
    settings = [settings_for(params) for params in grid]
    for fold in folds:  # any test run's log file left by an earlier sweep: refused before any run
        for params in grid:
            db_url_for(logs_dir, f"fold{fold.number}-test-{params_text(params)}")
    train_specs = [
        RunSpec(label=f"fold{fold.number}-train-{params_text(params)}", settings=s,
                start=fold.train_start, stop=fold.test_start, params=params, gate=gate,
                db_url=db_url_for(logs_dir, f"fold{fold.number}-train-{params_text(params)}"))
        for fold in folds for params, s in zip(grid, settings, strict=True)
    ]
    trained = run_all(train_specs, progress("train"))
    per_fold = [trained[i * len(grid):(i + 1) * len(grid)] for i in range(len(folds))]
    chosen = [best(results, metric) for results in per_fold]
    test_specs = [
        RunSpec(label=f"fold{fold.number}-test-{params_text(pick.params)}",
                settings=settings[grid.index(pick.params)], start=fold.test_start,
                stop=fold.test_stop, params=pick.params, gate=gate,
                db_url=db_url_for(logs_dir, f"fold{fold.number}-test-{params_text(pick.params)}"))
        for fold, pick in zip(folds, chosen, strict=True)
    ]
    tested = run_all(test_specs, progress("test"))
    initial = settings[0].run.cash_usd
    return WalkForward(
        strategy=strategy,
        metric=metric,
        grid=grid,
        outcomes=[FoldOutcome(f, t, c, r, warm_up(settings[grid.index(c.params)]))
                  for f, t, c, r in zip(folds, per_fold, chosen, tested, strict=True)],
        combined=stitched(tested, initial=initial),
    )


def warm_up(settings: Settings) -> int:
    """The longest look-back among the indicators of every strategy ``settings`` runs."""
    from agents.strategy import StrategyAgent

    specs = StrategyAgent(settings.strategies, run_id="warm-up").required_indicators()
    return max((spec.lookback for spec in specs), default=0)


def _window(market: MarketData, start: int, stop: int) -> dict[str, Any]:
    return {"start_bar": start, "stop_bar": stop, "bars": stop - start,
            "from": market.time(start).isoformat(), "to": market.time(stop - 1).isoformat()}
