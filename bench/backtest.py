"""Backtest speed: `quorum backtest`'s pipeline against backtesting.py, same strategy, same candles.

Both run an all-in, long-only SMA(10)/SMA(30) cross on the real 5-minute candles in
../shared/data, filling at the next bar's open with a 0.1% fee and no slippage (Quorum configured
by tests/integration/parity/parity.toml, the config the parity test proves trade-for-trade
equal), and the script checks that both made the same number of trades. Timed: from building the
run to its summary (Quorum: Session, every bar through governor, finish; backtesting.py:
FractionalBacktest(...).run(), its statistics included). Loading the CSV is not timed for either.
Medians of ``--repeats`` runs; quote the ratio, not the absolute numbers (shared machines).

Then where our time goes: the governance stages (policy engine, reviewer, approval gate, and the
governor's own per-decision bookkeeping), the decision log (append, flush, close), and the rest
(market data and indicators, strategy, risk, treasury, executor), by exclusive perf_counter time
around each stage of one instrumented run. Last, per decision: what the issue's targets (3× the
reference's bars/s, governance and logging at most 25% of our time) leave for governance and
logging, against the least the decision log's rows of that run cost with nothing else around
them (bench/log_floor.py). ``--profile`` adds cProfile's top functions.

    python bench/backtest.py [--data FILE] [--repeats 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from log_floor import Floor, floor, read_rows

from core.logging import configure

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ETH_BTC-5m.csv"
PARITY_CONFIG = ROOT / "tests" / "integration" / "parity" / "parity.toml"
FAST, SLOW, FEE, CASH = 10, 30, 0.001, 100.0


# -- backtesting.py ----------------------------------------------------------------------------


def _sma(values, period: int):
    return pd.Series(values).rolling(period).mean().to_numpy()


def reference_run(candles: pd.DataFrame, cash: float = CASH) -> tuple[float, int]:
    """(seconds, trades) of one backtesting.py run starting with ``cash``."""
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    class LongOnlySmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(_sma, self.data.Close, FAST)
            self.slow = self.I(_sma, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow) and not self.position:
                self.buy()
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = FractionalBacktest(candles, LongOnlySmaCross, cash=cash, commission=FEE,
                                   trade_on_close=False, finalize_trades=True).run()
    return time.perf_counter() - started, len(stats["_trades"])


# -- Quorum ------------------------------------------------------------------------------------


def quorum_settings(data_file: Path):
    from agents.strategy import StrategiesConfig
    from core.config import Settings

    settings = Settings.load(PARITY_CONFIG)
    return settings.model_copy(update={
        "data": settings.data.model_copy(update={"source": "files", "files": (data_file,)}),
        "execution": settings.execution.model_copy(update={"fee_rate": FEE}),
        "run": settings.run.model_copy(update={"cash_usd": CASH}),
        "strategies": StrategiesConfig.model_validate(
            {"enabled": ["sma_cross"], "sma_cross": {"fast": FAST, "slow": SLOW}}),
    })


def quorum_run(settings, market, db_path: Path, *, instrument: Callable | None = None,
               profiler: cProfile.Profile | None = None) -> tuple[float, int]:
    """(seconds, trades) of one run of the whole pipeline, as `quorum backtest` runs it."""
    from core.session import Session

    if profiler:
        profiler.enable()
    started = time.perf_counter()
    session = Session(settings, data=market, db_url=f"sqlite:///{db_path}", runtime="local",
                      gate="approve")
    if instrument:
        instrument(session)
    try:
        session.run(market.n_bars)
    finally:
        summary = session.finish()
    elapsed = time.perf_counter() - started
    if profiler:
        profiler.disable()
    return elapsed, len(summary.trades)


class Stages:
    """Exclusive time per stage: a stage's own time, without the stages called inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._children: list[float] = []
        self.restore: list[Callable[[], None]] = []  # undoes what instrument patched on classes

    def wrap(self, stage: str, call: Callable) -> Callable:
        def timed(*args, **kwargs):
            self._children.append(0.0)
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                inner = self._children.pop()
                self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed - inner
                if self._children:
                    self._children[-1] += elapsed

        return timed

    def instrument(self, session) -> None:
        """Wrap each governance and logging stage of this session's governor."""
        governor, agents = session.governor, session.runtime.agents
        governor.policy.evaluate = self.wrap("policy engine", governor.policy.evaluate)
        reviewer = agents["reviewer"]
        reviewer.review = self.wrap("reviewer", reviewer.review)
        for name in ("request", "poll", "cancel"):
            setattr(governor.gate, name, self.wrap("approval gate", getattr(governor.gate, name)))
        for name in ("append", "flush", "close"):
            log = session.decision_log
            setattr(log, name, self.wrap("decision log", getattr(log, name)))
        # What the governor does per decision besides calling the stages above and the agents:
        # the policy context, verdict and trace payloads, the order checks.
        governor._decide = self.wrap("governor bookkeeping", governor._decide)
        governor._human_gate = self.wrap("governor bookkeeping", governor._human_gate)
        # A backtest's snapshot builds an asset's bar, indicators and volatility when first
        # read (agents/snapshot_rows.py), often inside the governor's payloads: market data,
        # not governance.
        from agents.snapshot_rows import LazyRows

        build = LazyRows._build_once
        timed = self.wrap("market data (built when read)", build)
        LazyRows._build_once = lambda rows, asset: timed(rows, asset)
        self.restore.append(lambda: setattr(LazyRows, "_build_once", build))
        # The agents (not governance), each apart: what the rest is made of.
        call = session.runtime.call
        by_agent = {name: self.wrap(f"agent {name}", call) for name in agents}
        session.runtime.call = lambda agent, method, *a, **k: by_agent[agent](agent, method, *a, **k)


# -- the report --------------------------------------------------------------------------------


def main() -> None:
    configure(level="warning")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also print cProfile's top 20")
    parser.add_argument("--synthetic", type=int, metavar="BARS",
                        help="instead of --data: BARS synthetic 5-minute bars per asset")
    parser.add_argument("--assets", type=int, default=1,
                        help="with --synthetic: this many assets (backtesting.py runs each alone)")
    parser.add_argument("--split-cash", action="store_true",
                        help="with --assets: each entry may use 1/assets of equity (backtesting.py "
                        "gets that share per asset), so both trade every asset's crosses; "
                        "without it Quorum's all-in entries share one cash pile")
    args = parser.parse_args()

    if args.synthetic:
        settings, market = synthetic_market(args.synthetic, args.assets, split=args.split_cash)
        frames = [candles_of(market, i) for i in range(len(market.assets))]
        label = f"synthetic, {len(market.assets)} asset(s) × {market.n_bars:,} bars"
    else:
        from core.feeds.files import load_files

        candles = pd.read_csv(args.data, parse_dates=["date"], index_col="date")
        frames = [candles.rename(columns=str.capitalize)[["Open", "High", "Low", "Close",
                                                          "Volume"]]]
        settings = quorum_settings(args.data)
        market = load_files(settings.data.files)
        label = args.data.name
    bars = market.n_bars * len(market.assets)
    # backtesting.py starts each asset's run with the cash Quorum starts with, or with that
    # asset's share of it when --split-cash gives each asset its own share in Quorum too.
    cash = settings.run.cash_usd / (len(frames) if args.split_cash else 1)

    def reference() -> tuple[float, int]:
        runs = [reference_run(frame, cash) for frame in frames]  # one asset per run
        return sum(s for s, _ in runs), sum(t for _, t in runs)

    with tempfile.TemporaryDirectory() as tmp:
        quorum_run(settings, market, Path(tmp) / "warm.db")  # numba kernels loaded, imports done
        reference()
        ours, theirs = [], []
        for r in range(args.repeats):
            ours.append(quorum_run(settings, market, Path(tmp) / f"run{r}.db"))
            theirs.append(reference())
        stages = Stages()
        try:
            instrumented, _ = quorum_run(settings, market, Path(tmp) / "stages.db",
                                         instrument=stages.instrument)
        finally:
            for undo in stages.restore:
                undo()
        log_rows, decisions = read_rows(Path(tmp) / "stages.db")
        log_floor = floor(log_rows)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            quorum_run(settings, market, Path(tmp) / "profile.db", profiler=profiler)

    med = statistics.median
    our_s, their_s = med(s for s, _ in ours), med(s for s, _ in theirs)  # seconds per run
    our_trades, their_trades = ours[0][1], theirs[0][1]
    print(f"SMA({FAST})/SMA({SLOW}) cross, all-in, fee {FEE:g}, on {label}: {bars:,} bars, "
          f"median of {args.repeats}")
    print(f"{'':44}{'bars/s':>12}{'(slowest, fastest run)':>26}{'trades':>8}")
    for name, runs, trades in (("quorum backtest (full governed pipeline)", ours, our_trades),
                               ("backtesting.py FractionalBacktest", theirs, their_trades)):
        times = [s for s, _ in runs]
        spread = f"({bars / max(times):,.0f}, {bars / min(times):,.0f})"
        print(f"{name:44}{bars / med(times):>12,.0f}{spread:>26}{trades:>8}")
    print(f"{'ratio (ours / backtesting.py)':44}{their_s / our_s:>12.3f}")
    if our_trades != their_trades and (len(frames) == 1 or args.split_cash):
        print(f"WARNING: the two made different numbers of trades ({our_trades} vs {their_trades})")
    print_stages(stages, instrumented)
    print_floor(their_s, decisions, len(log_rows), log_floor)
    if profiler:
        print_profile(profiler)


def synthetic_market(bars: int, assets: int, *, split: bool = False):
    """The parity settings over a synthetic market of ``assets`` × ``bars`` 5-minute bars.

    With several assets all-in entries compete for one cash pile (backtesting.py gives each
    asset its own), so Quorum makes far fewer trades. ``split`` lets each entry use only
    1/assets of equity instead (backtesting.py then starts each asset with that share), so both
    trade every asset's crosses."""
    from datetime import UTC, datetime

    from core.feeds.synthetic import generate

    settings = quorum_settings(DEFAULT_DATA)
    symbols = [f"A{i:02d}" for i in range(assets)] if assets > 1 else ["BTC"]
    market = generate(assets=symbols, bars=bars, bar_seconds=300,
                      start=datetime(2024, 1, 1, tzinfo=UTC), seed=7)
    policy = Path(tempfile.mkdtemp(prefix="quorum-bench-")) / "policy.toml"
    text = (PARITY_CONFIG.parent / "parity_policy.toml").read_text(encoding="utf-8")
    allow = "assets = [" + ", ".join(f'"{s}"' for s in symbols) + "]"
    policy.write_text(re.sub(r"(?m)^assets = \[.*\]$", allow, text), encoding="utf-8")
    settings = settings.model_copy(update={
        "data": settings.data.model_copy(update={"source": "synthetic"}),
        "run": settings.run.model_copy(update={"cash_usd": 100_000.0}),
        "risk": settings.risk.model_copy(update={"fraction": 1 / assets,
                                                 "max_position_share": 1 / assets})
        if split else settings.risk,
        "policy_file": policy,
    })
    return settings, market


def candles_of(market, i: int) -> pd.DataFrame:
    index = pd.DatetimeIndex(market.timestamps)
    return pd.DataFrame({"Open": market.open[i], "High": market.high[i], "Low": market.low[i],
                         "Close": market.close[i], "Volume": market.volume[i]}, index=index)


def print_stages(stages: Stages, total_s: float) -> None:
    governance = ("policy engine", "reviewer", "approval gate", "governor bookkeeping")
    seconds = dict(stages.seconds)
    seconds["rest"] = total_s - sum(v for k, v in seconds.items() if k != "rest")
    print(f"\nwhere one instrumented run's {total_s:.2f} s went (exclusive time per stage)")
    agents = sorted((k for k in seconds if k.startswith("agent ")), key=seconds.get, reverse=True)
    for name in (*governance, "decision log", *agents, "market data (built when read)", "rest"):
        label = f"{name} (governor loop, session setup and finish)" if name == "rest" else name
        print(f"  {label:52}{seconds.get(name, 0.0):>8.3f} s{100 * seconds[name] / total_s:>7.1f} %"
              if name in seconds else f"  {label:52}{0.0:>8.3f} s{0.0:>7.1f} %")
    share = sum(seconds.get(n, 0.0) for n in (*governance, "decision log")) / total_s
    print(f"  {'governance + decision log':52}{'':>10}{100 * share:>7.1f} %")


def print_floor(their_s: float, decisions: int, rows: int, least: Floor) -> None:
    """What the targets allow per decision for governance and logging, against the least the
    log's rows cost (bench/log_floor.py)."""
    if not decisions:
        return
    allowed_s = 0.25 * their_s / 3  # a quarter of a run 3× faster than backtesting.py's
    print(f"\nper decision ({decisions:,} decisions, {rows:,} log rows):")
    for label, seconds in (
        ("the targets allow for governance + log (25% of 1/3 of theirs)", allowed_s),
        ("the log rows' SHA-256 chain alone, nothing else (floor)", least.hashing_s),
        ("the log rows chained and inserted, nothing else (floor)", least.storing_s),
    ):
        print(f"  {label:62}{1e6 * seconds / decisions:>8.1f} µs")


def print_profile(profiler: cProfile.Profile) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(20)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"\ncProfile of one run, top 20 by {order}")
        print("\n".join(lines[start:start + 21]))


if __name__ == "__main__":
    main()
