"""One run of the system, from wiring to summary: shared by `quorum run` and `quorum backtest`.

Opens the database, loads the policy, starts the runtime, logs RunStarted, and at the end logs
RunFinished, flushes, and reports the decision log's head hash.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import SecretStr

from agents.treasury import LENDING_SIDE, Trade
from core.canonical import sha256_hex
from core.config import Settings
from core.errors import ConfigError
from core.event_loop import EventLoop
from core.feeds.base import MarketData
from core.governor import Governor
from core.human_gate import HumanGate, QueueGate, SimulatedGate
from core.logging import get_logger
from core.metrics import (
    cagr_pct,
    exposure_pct,
    max_drawdown_pct,
    profit_factor,
    return_pct,
    sharpe,
    sortino,
    win_rate_pct,
)
from core.models import PortfolioState, Stage
from core.wiring import Runtime, build_specs
from policies.engine import PolicyEngine
from state.approvals import ApprovalQueue
from state.db import make_engine
from state.decision_log import DecisionLog
from state.kill_switch import KillSwitchBoard

log = get_logger("quorum.session")

GateKind = Literal["queue", "approve", "reject"]


@dataclass
class RunSummary:
    run_id: str
    runtime: str
    ticks: int
    decisions: dict[str, int]
    stages: dict[str, int]
    initial_equity_usd: float
    equity_usd: float
    realized_pnl_usd: float
    fees_usd: float
    positions: dict[str, float]
    return_pct: float
    max_drawdown_pct: float
    sharpe: float
    log_entries: int
    head_hash: str
    elapsed_s: float
    closed_trades: int = 0
    trades: list[Trade] = field(default_factory=list)
    """Closed round trips, then open positions closed out at the last mark; lending round trips
    (deposit to withdrawal of a receipt asset) have side ``lend``."""
    cagr_pct: float = 0.0
    sortino: float = 0.0
    exposure_pct: float = 0.0
    denied_by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def pnl_usd(self) -> float:
        return self.equity_usd - self.initial_equity_usd

    @property
    def market_trades(self) -> list[Trade]:
        """The trading round trips: what win rate, profit factor and the trade count judge."""
        return [t for t in self.trades if t.side != LENDING_SIDE]

    @property
    def lending_trades(self) -> list[Trade]:
        return [t for t in self.trades if t.side == LENDING_SIDE]

    @property
    def by_strategy(self) -> dict[str, tuple[int, float]]:
        """Each strategy's round trips (lending ones too) and their PnL, open lots closed out
        at the last mark; what no strategy bought is under ``none``. In order of first trade."""
        books: dict[str, tuple[int, float]] = {}
        for trade in self.trades:
            count, pnl = books.get(trade.strategy or "none", (0, 0.0))
            books[trade.strategy or "none"] = (count + 1, pnl + trade.pnl)
        return books

    @property
    def win_rate_pct(self) -> float:
        return win_rate_pct([t.pnl for t in self.market_trades])

    @property
    def profit_factor(self) -> float:
        return profit_factor([t.pnl for t in self.market_trades])

    @property
    def vetoed(self) -> int:
        return self.stages.get(Stage.REVIEW_VETOED, 0)

    @property
    def escalated(self) -> int:
        return self.stages.get(Stage.REVIEW_ESCALATED, 0)

    @property
    def to_people(self) -> int:
        """Decisions the policy's tiers (or the reviewer) sent to people for approval."""
        return self.stages.get(Stage.APPROVAL_REQUESTED, 0)

    @property
    def rejected(self) -> int:
        """Requests people turned down or let expire (their orders never went out)."""
        return (self.stages.get(Stage.APPROVAL_REJECTED, 0)
                + self.stages.get(Stage.APPROVAL_EXPIRED, 0))


class Session:
    def __init__(
        self,
        settings: Settings,
        *,
        data: MarketData,
        db_url: str,
        runtime: Literal["local", "ray"],
        gate: GateKind = "queue",
        address: str | None = None,
        chain_password: SecretStr | None = None,
        fork_url: SecretStr | None = None,
    ) -> None:
        self.settings = settings
        self.data = data
        self.db_url = db_url
        self.run_id = uuid.uuid4().hex[:8]
        self.woken = 0
        """Ticks the whole pipeline ran on (the rest coasted: core/event_loop.py)."""
        self.started = time.monotonic()
        self.policy = PolicyEngine.load(settings.policy_file)
        self.engine = make_engine(db_url)
        # A backtest (local runtime) batches its commits: a crash loses the run anyway, and the
        # log then adds under 5% to its wall time. A live run commits every tick.
        self.decision_log = DecisionLog(
            self.engine, min_commit_interval_s=0.1 if runtime == "local" else 0.0
        )
        human_gate: HumanGate = (
            QueueGate(ApprovalQueue(self.engine, approvers=settings.approvals))
            if gate == "queue"
            else SimulatedGate(approve=gate == "approve")
        )
        self.venue = _start_venue(settings, data, self.policy, chain_password, fork_url)
        chain_executor = (
            None if self.venue is None else (self.venue.executor_config, chain_password)
        )
        try:
            specs = build_specs(settings, data=data, db_url=db_url, run_id=self.run_id,
                                chain_executor=chain_executor, backtest=runtime == "local",
                                opening=getattr(self.venue, "opening_positions", None))
            self.runtime: Runtime = _start_runtime(runtime, specs, address)
        except BaseException:
            if self.venue is not None:
                self.venue.stop()
            raise
        self.governor = Governor(
            runtime=self.runtime,
            policy=self.policy,
            decision_log=self.decision_log,
            human_gate=human_gate,
            run_id=self.run_id,
            mode=settings.run.mode,
            # A live run obeys the shared kill switch (CLI, control panel); a backtest does not.
            kill_switch=KillSwitchBoard(self.engine) if runtime == "ray" else None,
            venue=self.venue,
            lendable=frozenset(settings.execution.lending_rates if self.venue is None
                               else self.venue.executor_config.lending),
            # Live: a bar reached more than a bar late (the pipeline fell behind) is not traded.
            stale_after_s=2 * data.bar_seconds() if settings.run.mode == "live" else None,
        )
        self.decision_log.append(
            f"run-{self.run_id}",
            "RunStarted",
            {
                "run_id": self.run_id,
                "runtime": runtime,
                "mode": settings.run.mode,
                "data": data.source,
                "data_notes": list(data.notes),
                "policy": self.policy.version,
                "config_sha256": sha256_hex(settings),
                "human_gate": gate,
                "treasury_address": self.venue.treasury if self.venue else None,
            },
        )
        self.decision_log.flush()
        log.info("run.started", run_id=self.run_id, runtime=runtime, data=data.source,
                 policy=self.policy.version)

    def run(
        self,
        ticks: int,
        *,
        interval_s: float = 0.0,
        should_stop: Callable[[], bool] = lambda: False,
        on_tick: Callable[[int, PortfolioState], None] | None = None,
        event_driven: bool = True,
    ) -> None:
        """Ticks 0..ticks-1. A backtest (local runtime, no pacing) wakes the pipeline only on
        bars where something can act (core/event_loop.py); anything else goes bar by bar."""
        if event_driven and self.runtime.name == "local" and interval_s == 0:
            loop = EventLoop(self.governor)
            loop.run(range(ticks), should_stop=should_stop, on_tick=on_tick)
            self.woken = loop.woken
        else:
            self.governor.run(range(ticks), interval_s=interval_s, should_stop=should_stop,
                              on_tick=on_tick)
            self.woken = self.governor.state.ticks

    def finish(self) -> RunSummary:
        """Log RunFinished, flush, stop the runtime; returns the summary."""
        try:
            self.governor.end_run()
            # A backtest's executor batches its order writes: they are written out before the
            # log says the run finished (a failure here stops the run unfinished).
            self.runtime.call("executor", "close")
            summary = self.summary()
            closed = self.runtime.call("treasury", "closed_trades")
            summary.closed_trades = len(closed)
            summary.trades = [
                replace(t, side=LENDING_SIDE) if t.asset in self.governor.lendable else t
                for t in closed + self.runtime.call("treasury", "open_trades_marked")
            ]
            if self.venue is not None:
                self._record_chain_balances(summary)
            self.decision_log.append(
                f"run-{self.run_id}",
                "RunFinished",
                {
                    "ticks": summary.ticks,
                    "decisions": summary.decisions,
                    "equity_usd": summary.equity_usd,
                    "return_pct": summary.return_pct,
                },
            )
            self.decision_log.flush()
            summary.log_entries, summary.head_hash = self.decision_log.head()
            log.info("run.finished", run_id=self.run_id, ticks=summary.ticks,
                     head_hash=summary.head_hash)
            return summary
        finally:
            with ExitStack() as closing:  # each runs even if one before it raised
                closing.callback(self.engine.dispose)
                if self.venue is not None:
                    closing.callback(self.venue.stop)
                closing.callback(self.runtime.shutdown)  # a backtest's executor writes out orders
                closing.callback(self.decision_log.close)

    def _record_chain_balances(self, summary: RunSummary) -> None:
        """The last word of a chain run: the treasury's books beside the wallet's balances."""
        balances = self.runtime.call("executor", "balances")
        portfolio = self.governor.state.portfolio
        booked = {"USD": portfolio.cash_usd if portfolio else self.settings.run.cash_usd}
        booked.update({a: q for a, q in summary.positions.items()})
        self.decision_log.append(f"run-{self.run_id}", "ChainBalances", {
            "address": self.venue.treasury,
            "on_chain": {asset: str(amount) for asset, amount in balances.items()},
            "treasury": booked,
        })
        self.decision_log.flush()

    def summary(self) -> RunSummary:
        state = self.governor.state
        portfolio = state.portfolio
        # A live wallet may start with holdings besides its cash (the treasury's opening).
        initial = portfolio.initial_equity_usd if portfolio else self.settings.run.cash_usd
        equity = portfolio.equity_usd if portfolio else initial
        entries, head = self.decision_log.head()
        return RunSummary(
            run_id=self.run_id,
            runtime=self.runtime.name,
            ticks=state.ticks,
            decisions=dict(Counter(state.outcomes.values())),
            stages=dict(state.stages),
            initial_equity_usd=initial,
            equity_usd=equity,
            realized_pnl_usd=portfolio.realized_pnl_usd if portfolio else 0.0,
            fees_usd=portfolio.fees_usd if portfolio else 0.0,
            positions={a: p.quantity for a, p in portfolio.positions.items()} if portfolio else {},
            return_pct=return_pct(initial, equity),
            max_drawdown_pct=max_drawdown_pct(state.equity),
            sharpe=sharpe(state.equity, bar_seconds=self.data.bar_seconds()),
            sortino=sortino(state.equity, bar_seconds=self.data.bar_seconds()),
            cagr_pct=cagr_pct(initial, equity, seconds=_span_s(state.times, self.data.bar_seconds())),
            exposure_pct=exposure_pct(state.holding),
            denied_by_rule=dict(state.denied_by_rule.most_common()),
            log_entries=entries,
            head_hash=head,
            elapsed_s=time.monotonic() - self.started,
        )


def _start_venue(settings: Settings, data: MarketData, policy: PolicyEngine,
                 password: SecretStr | None, fork_url: SecretStr | None):
    """The run's chain (devnet, fork, or the user's own for live), or None for paper trading.

    Live starts nothing and deals nothing: the venue checks that the wallet holds exactly the
    ``[run] cash_usd`` the treasury starts with (quorum run sets it from the wallet).
    """
    mode = settings.run.mode
    if mode == "paper":
        return None
    if password is None:
        raise ConfigError(f"--mode {mode} needs the keystore password of key "
                          f"'{settings.chain.key_name}'")
    if mode == "live":
        from core.chain.live import LiveVenue  # RPC URL from $QUORUM_RPC_URL

        return LiveVenue.start(chain=settings.chain, policy=policy, assets=list(data.assets),
                               cash_usd=settings.run.cash_usd)
    from core.chain.venue import ChainVenue  # web3 and anvil: only for a chain run

    return ChainVenue.start(
        mode=mode, chain=settings.chain, policy=policy, password=password,
        prices={asset: data.bar(asset, 0).open for asset in data.assets},
        cash_usd=settings.run.cash_usd, start=data.time(0), fork_url=fork_url,
    )


def _start_runtime(kind: str, specs: list, address: str | None) -> Runtime:
    if kind == "ray":
        from core.runtime import RayRuntime

        return RayRuntime(specs, address=address)
    from core.runtime import LocalRuntime

    return LocalRuntime(specs)


def _span_s(times: list, bar_seconds: float) -> float:
    """Market time a run covered: first bar's open to last bar's close."""
    if not times:
        return 0.0
    return (times[-1] - times[0]).total_seconds() + bar_seconds
