"""One backtest as a plain function: a RunSpec in, a picklable RunResult out.

What `quorum backtest --compare` and `--sweep` hand to worker processes or Ray tasks. Every run
goes through the whole pipeline (policy, reviewer, simulated gate, decision log) on the local
runtime, on a window of bars of one shared MarketData, and writes to its own database (in-memory
by default) so parallel runs never contend for a file. This module prints nothing and never
touches the user's --db.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.backtest_report import summary_payload
from core.config import Settings
from core.feeds.base import MarketData

IN_MEMORY_DB = "sqlite://"
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.=,-]+")


@dataclass(frozen=True)
class RunSpec:
    """What one run needs besides the market data: its settings, its window, its database."""

    label: str
    settings: Settings
    start: int = 0
    """First bar of the window (inclusive)."""
    stop: int | None = None
    """Bar after the window's last (None: to the end of the data)."""
    params: dict[str, Any] = field(default_factory=dict)
    gate: str = "approve"
    db_url: str = IN_MEMORY_DB


@dataclass
class RunResult:
    """A run's summary as the JSON report writes it, plus its equity curve for stitching."""

    label: str
    params: dict[str, Any]
    start: int
    stop: int
    payload: dict[str, Any]
    equity: list[float]
    times: list[datetime]
    bar_seconds: float
    run_id: str
    head_hash: str
    log_entries: int

    def metric(self, name: str) -> float:
        """One figure of the payload as a float (a null profit factor is +inf: no loss at all)."""
        value = self.payload[name]
        return float("inf") if value is None else float(value)


def window(market: MarketData, start: int, stop: int) -> MarketData:
    """Bars ``start`` to ``stop - 1`` of every asset, as a MarketData of their own."""
    if not 0 <= start < stop <= market.n_bars:
        raise ValueError(f"window {start}:{stop} is outside 0:{market.n_bars}")
    if (start, stop) == (0, market.n_bars):
        return market

    def cut(array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array[:, start:stop])

    return dataclasses.replace(
        market,
        timestamps=np.ascontiguousarray(market.timestamps[start:stop]),
        open=cut(market.open), high=cut(market.high), low=cut(market.low),
        close=cut(market.close), volume=cut(market.volume),
        source=f"{market.source}[{start}:{stop}]",
        notes=(),  # already shown once for the whole data
    )


def db_url_for(logs_dir: Path | None, label: str) -> str:
    """A run's own database: a SQLite file named after its label in ``logs_dir``, else memory."""
    if logs_dir is None:
        return IN_MEMORY_DB
    path = logs_dir / (_UNSAFE_IN_NAME.sub("_", label) + ".db")
    if path.exists():  # a log of its own: never appended to an earlier run's
        from core.backtest_params import InputError

        raise InputError(f"--logs-dir {logs_dir}: {path.name} is there from an earlier run; "
                         "remove it or choose another folder")
    return f"sqlite:///{path}"


def run_one(spec: RunSpec, market: MarketData) -> RunResult:
    """Backtest ``spec`` on its window of ``market`` through the full pipeline."""
    from core.session import Session

    stop = market.n_bars if spec.stop is None else spec.stop
    data = window(market, spec.start, stop)
    session = Session(spec.settings, data=data, db_url=spec.db_url, runtime="local",
                      gate=spec.gate)
    try:
        session.run(data.n_bars)
    finally:
        summary = session.finish()
    state = session.governor.state
    return RunResult(
        label=spec.label,
        params=dict(spec.params),
        start=spec.start,
        stop=stop,
        payload=summary_payload(summary),
        equity=list(state.equity),
        times=list(state.times),
        bar_seconds=data.bar_seconds(),
        run_id=summary.run_id,
        head_hash=summary.head_hash,
        log_entries=summary.log_entries,
    )
