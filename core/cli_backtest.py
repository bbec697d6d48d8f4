"""`quorum backtest`: one strategy, several strategies or parameter sets side by side
(--compare), or a walk-forward parameter sweep (--sweep), always through the full pipeline on
the local runtime.

A single backtest logs to --db like every command. --compare and --sweep give every run its own
database (in memory, or a file in --logs-dir) so runs in parallel never contend; they never write
to --db. Errors a person can act on are one line naming the option, before anything runs.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from core import backtest_params as params
from core.backtest_report import (
    counted,
    params_text,
    summary_payload,
    sweep_lines,
    table,
)
from core.cli_render import print_summary, progress_line
from core.cli_state import DbOption
from core.config import Settings
from core.feeds.base import MarketData
from core.validation import validate
from state.db import default_db_url

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config TOML (see `quorum init`)")
]
USD_LIKE = frozenset({"USD", "USDT", "USDC", "BUSD", "DAI", "TUSD", "FDUSD"})
NON_USD_DEFAULT_CASH = 100.0
"""Default backtest cash for data quoted in BTC, ETH, ...: 100 units of the quote currency."""
MANY_RUNS_ONLY = ("--workers", "--ray", "--logs-dir")
SWEEP_ONLY = ("--folds", "--train-fraction", "--metric")


def backtest(
    data: Annotated[str | None, typer.Option("--data", help="OHLCV file(s), comma-separated: CSV, Parquet or Feather (default: synthetic)")] = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy plugin to run (default: the config's \\[strategies], as written; sma_cross without a config)")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Strategy parameter k=v over the config's (repeatable); exits.stop_loss=0.02 sets an exit; a list as k=A,B; k=none unsets; with --compare, NAME.k=v sets it for one strategy only")] = None,
    fee: Annotated[float | None, typer.Option(min=0, max=0.1, help="Proportional fee per fill (0.001 = 0.1%)")] = None,
    cash: Annotated[float | None, typer.Option(min=0.01, help="Starting cash, in the data's quote currency (default: config's cash_usd; 100 for data quoted in BTC, ETH, ...)")] = None,
    bars: Annotated[int | None, typer.Option(min=2, help="Synthetic bars when no --data is given")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the synthetic market")] = None,
    human: Annotated[str, typer.Option(help="How the backtest stands in for people above the auto tier: approve or reject (logged as simulated)")] = "approve",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON to this file")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw price with buy/sell markers, equity and drawdown to this image (.png, .svg, .pdf)")] = None,
    compare: Annotated[str | None, typer.Option("--compare", help="Strategies or parameter sets to run side by side on the same data, comma-separated (NAME or NAME:k=v:k=v, e.g. sma_cross:fast=5,sma_cross:fast=20,momentum); prints one table")] = None,
    sweep: Annotated[list[str] | None, typer.Option("--sweep", help="Walk-forward grid over a strategy parameter: k=start:stop:step, exits.stop_loss=0.01:0.05:0.01 for an exit (repeatable)")] = None,
    folds: Annotated[int | None, typer.Option("--folds", min=1, help="Walk-forward folds of --sweep (default 3)")] = None,
    train_fraction: Annotated[float | None, typer.Option("--train-fraction", help="Share of each fold used to choose the parameters (default 0.7)")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="What --sweep maximises on each train window: sharpe, sortino, return, cagr, profit_factor, win_rate, or max_drawdown (minimised), default sharpe")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Runs at once for --compare/--sweep (default: the CPU count)")] = None,
    use_ray: Annotated[bool, typer.Option("--ray", help="Run the --compare/--sweep runs as Ray tasks instead of worker processes")] = False,
    logs_dir: Annotated[Path | None, typer.Option("--logs-dir", help="Keep each --compare/--sweep run's decision log as a SQLite file here (default: in memory)")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Backtest a strategy through the full pipeline (policy, reviewer, log) on the local runtime."""
    given = {"--workers": workers, "--ray": use_ray or None, "--logs-dir": logs_dir, "--folds": folds,
             "--train-fraction": train_fraction, "--metric": metric}
    _check_options(human=human, compare=compare, sweep=sweep, plot=plot, db=db, given=given)
    for option, path in (("--json", json_out), ("--plot", plot)):
        if path is not None:
            _check_writable_file(option, path)
    if plot is not None:
        _check_image_format(plot)
    if logs_dir is not None:
        logs_dir = logs_dir.resolve()  # Ray workers may start elsewhere
        _make_folder("--logs-dir", logs_dir)
    many = {"gate": human, "logs_dir": logs_dir, "workers": workers,
            "backend": "ray" if use_ray else "process"}
    if compare is not None and strategy is not None:
        _fail("--strategy: not with --compare; name the strategies there")
    base = _base_settings(config, seed=seed, fee=fee, cash=cash, data=data)
    if base.data.source == "files":
        for option, value in (("--bars", bars), ("--seed", seed)):
            if value is not None:
                _fail(f"{option}: only for synthetic data; data files are read whole")
    try:
        if compare is not None:
            configs = params.compare_configs(base.strategies, compare, param or [])
            settings, market = with_market(base, bars=bars)
            _compare(settings, market, configs=configs, json_out=json_out, **many)
        elif sweep:
            _sweep(base, bars, strategy=strategy, specs=sweep, param=param or [],
                   folds=folds or 3, metric=metric or "sharpe", json_out=json_out,
                   train_fraction=0.7 if train_fraction is None else train_fraction, **many)
        else:
            strategies = params.single_config(base.strategies, strategy, param or [])
            settings, market = with_market(base, bars=bars)
            _single(settings.model_copy(update={"strategies": strategies}), market,
                    db_url=db or default_db_url(), gate=human, json_out=json_out, plot=plot)
    except params.InputError as exc:
        _fail(str(exc))


# -- the three modes ---------------------------------------------------------------------------


def _single(settings: Settings, market: MarketData, *, db_url: str, gate: str,
            json_out: Path | None, plot: Path | None) -> None:
    """One run logged to --db, with progress, Ctrl-C handling and the summary."""
    from core.session import Session

    _warn(settings, market)
    cli = _cli()
    stop, previous_handler = cli._install_stop_handler()
    try:
        session = Session(settings, data=market, db_url=db_url, runtime="local", gate=gate)
        ticks = market.n_bars
        every = max(1, ticks // 10)
        shown = [0]  # bars done at the last progress line

        def on_tick(tick: int, portfolio) -> None:
            # Coasted bars arrive in runs (core/event_loop.py): a line per tenth crossed.
            if (tick + 1) // every > shown[0] // every or tick + 1 == ticks:
                shown[0] = tick + 1
                typer.echo(progress_line(tick + 1, ticks, portfolio, session.governor.state),
                           err=True)

        try:
            session.run(ticks, should_stop=stop, on_tick=on_tick)
        finally:
            summary = session.finish()
        print_summary(summary, stopped_early=summary.ticks < ticks)
        ran = {name: params.own_params(settings.strategies, name)
               for name in settings.strategies.enabled}  # what differs from the defaults
        typer.echo("  strategies            " + ", ".join(
            f"{name} ({params_text(own)})" if own else name for name, own in ran.items()))
        payload = summary_payload(summary) | {"strategies": ran}
        if json_out is not None:
            _write_json("--json", json_out, payload, note="the run itself is in the decision log")
        if plot is not None:
            _draw(plot, market, session)
    except KeyboardInterrupt:
        cli._abort()  # Typer would turn it into a silent exit 130; say what happened
    finally:
        signal.signal(signal.SIGINT, previous_handler)


def _compare(settings: Settings, market: MarketData, *, configs: dict[str, Any], gate: str,
             logs_dir: Path | None, workers: int | None, backend: str,
             json_out: Path | None) -> None:
    """Each entry (a strategy, or a strategy with parameters of its own) on the same bars, in
    parallel; one table, and every run in --json."""
    from core.backtest_parallel import default_workers, runner
    from core.backtest_runs import RunSpec, db_url_for

    specs = [RunSpec(label=entry, settings=settings.model_copy(update={"strategies": strategies}),
                     params=params.own_params(strategies, name), gate=gate,
                     db_url=db_url_for(logs_dir, f"compare-{entry}"))
             for entry, (name, strategies) in configs.items()]
    for spec in specs:
        _warn(spec.settings, market, who=f"{spec.label}: ")
    names = [name for name, _ in configs.values()]
    workers = min(workers or default_workers(), len(specs))
    with runner(market, backend=backend, workers=workers) as run_all:
        results = run_all(specs, _progress("compare"))
    typer.echo(f"\n{counted(len(results), 'run')} on {market.source}: {market.n_bars} bars, "
               f"start {settings.run.cash_usd:,.2f} {market.quote}")
    labels = [f"{name} ({params_text(r.params)})" if r.params else name
              for name, r in zip(names, results, strict=True)]
    typer.echo("\n".join(table(labels, [r.payload for r in results], first="strategy")))
    if json_out is not None:
        report = {"data": market.source, "bars": market.n_bars, "runs": [
            {"strategy": name, "params": r.params, "run_id": r.run_id,
             "head_hash": r.head_hash, **r.payload} for name, r in zip(names, results, strict=True)]}
        _write_json("--json", json_out, report, note="the runs' figures are printed above")


def _warn(settings: Settings, market: MarketData, *, who: str = "") -> None:
    """Say before a run what its strategies' configs cannot do there: a look-back as long as the
    data, a fixed buy above the starting cash or above what one entry may use, several
    strategies sharing positions. ``who``: the --compare entry the run is (else a warning names
    its strategy)."""
    from core.backtest_walkforward import warm_up

    longest = warm_up(settings)
    if longest >= market.n_bars:
        typer.echo(f"warning: {who}the longest indicator look-back ({longest} bars) is not "
                   f"shorter than the data ({market.n_bars} bars): that indicator never warms "
                   "up, so no signal that reads it can come", err=True)
    warn_strategies(settings, who=who)


def warn_strategies(settings: Settings, *, who: str = "") -> None:
    """Each strategy config warning for a run from the configured cash (StrategyAgent.warnings),
    one line each, named by ``who`` or else by the strategy; `quorum run` says them too."""
    from agents.strategy import StrategyAgent
    from policies.engine import PolicyEngine

    caps = [rule.config.max_share for rule in PolicyEngine.load(settings.policy_file).rules
            if rule.id == "max_volatile_share"]
    for name, warning in StrategyAgent(settings.strategies, run_id="check").warnings(
            cash_usd=settings.run.cash_usd,
            entry_cap_usd=settings.risk.fraction * settings.run.cash_usd,
            volatile_cap=min(caps, default=None)):
        typer.echo(f"warning: {who or f'{name}: '}{warning}", err=True)


def _sweep(base: Settings, bars: int | None, *, strategy: str | None, specs: list[str],
           param: list[str], folds: int, train_fraction: float, metric: str, gate: str,
           logs_dir: Path | None, workers: int | None, backend: str,
           json_out: Path | None) -> None:
    """Walk-forward: choose on each train window, test on the next bars, stitch the tests."""
    from core.backtest_parallel import runner
    from core.backtest_sweep import METRICS, grid, make_folds, parse_axis
    from core.backtest_walkforward import walk_forward

    if metric not in METRICS:
        raise params.InputError(f"--metric {metric}: expected one of {', '.join(METRICS)}")
    strategy = params.chosen_strategy(strategy, base.strategies, option="--sweep")
    known = params.parameter_names(strategy)
    fixed, configured = (params.param_table(params.scoped(param, strategy, [strategy])),
                         params.configured(base.strategies, strategy))
    combos, configs, refused = params.sweep_configs(
        strategy, grid([parse_axis(spec, known=known) for spec in specs]), fixed, base=configured)
    settings, market = with_market(base, bars=bars)
    windows = make_folds(market.n_bars, count=folds, train_fraction=train_fraction)
    if refused:
        typer.echo(f"skipped {len(refused)} of {len(refused) + len(combos)} parameter sets the "
                   f"strategy refuses (first: {refused[0]})", err=True)
    with runner(market, backend=backend, workers=workers) as run_all:
        walk = walk_forward(
            strategy=strategy, grid=combos,
            settings_for=lambda combo: settings.model_copy(
                update={"strategies": configs[params_text(combo)]}),
            folds=windows, metric=metric, market=market, gate=gate, logs_dir=logs_dir,
            run_all=run_all, progress=lambda phase: _progress(f"sweep {phase}"))
    walk.fixed = params.merged(configured, fixed)  # what every set shares: for the report
    typer.echo("\n" + "\n".join(sweep_lines(walk, market, source=market.source)))
    if json_out is not None:
        _write_json("--json", json_out, walk.to_dict(market, train_fraction=train_fraction),
                    note="the figures are printed above")


# -- inputs ------------------------------------------------------------------------------------


def _check_options(*, human: str, compare: str | None, sweep: list[str] | None,
                   plot: Path | None, db: str | None, given: dict[str, Any]) -> None:
    """Refuse combinations that cannot mean anything, naming the options."""
    if human not in ("approve", "reject"):
        _fail(f"--human {human}: expected approve or reject")
    if compare is not None and sweep:
        _fail("--compare and --sweep: give one of them")
    many = compare is not None or bool(sweep)
    if many and plot is not None:
        _fail("--plot draws one backtest: not with --compare or --sweep")
    if many and db is not None:
        _fail("--db: --compare and --sweep give every run its own database; "
              "keep them with --logs-dir DIR")
    for option, value in given.items():
        if value is None:
            continue
        if option in MANY_RUNS_ONLY and not many:
            _fail(f"{option}: only with --compare or --sweep")
        if option in SWEEP_ONLY and not sweep:
            _fail(f"{option}: only with --sweep")


def _base_settings(config: Path | None, *, seed: int | None, fee: float | None,
                   cash: float | None, data: str | None) -> Settings:
    """The config with the command line's seed, fee, cash and data files applied; a backtest
    always fills on paper, whatever mode the config names for `quorum run`."""
    settings = _cli()._settings(config, seed=seed)
    run = {"mode": "paper"} | ({} if cash is None else {"cash_usd": cash})
    updates: dict[str, Any] = {"run": validate(  # unset keys stay unset: see with_market
        type(settings.run), {**settings.run.model_dump(exclude_unset=True), **run},
        source="--cash", prefix="run")}
    if fee is not None:
        updates["execution"] = settings.execution.model_copy(update={"fee_rate": fee})
    if data is not None:
        files = tuple(Path(p.strip()) for p in data.split(",") if p.strip())
        if not files:
            _fail(f"--data {data!r}: expected data files, comma-separated")
        updates["data"] = settings.data.model_copy(update={"source": "files", "files": files})
    return settings.model_copy(update=updates)


def with_market(settings: Settings, *, bars: int | None) -> tuple[Settings, MarketData]:
    """The market data the settings name, its notes said, and the settings with cash read in
    its quote: cash set in the config or by --cash as given, else 100 of a quote that is no
    dollar (100,000 BTC is no treasury). `quorum run` and `quorum backtest` alike."""
    market = _cli()._load_data(settings, bars=bars)
    for note in market.notes:
        typer.echo(note, err=True)
    if "cash_usd" not in settings.run.model_fields_set and market.quote not in USD_LIKE:
        settings = settings.model_copy(update={"run": settings.run.model_copy(
            update={"cash_usd": NON_USD_DEFAULT_CASH})})
    if market.quote not in USD_LIKE:
        typer.echo(
            f"prices are in {market.quote}: cash ({settings.run.cash_usd:g} {market.quote}), "
            f"fees, policy limits and strategy amounts (amount_usd, size_usd) are read in "
            f"{market.quote} (set [run] cash_usd, or a backtest's --cash, to change)",
            err=True,
        )
    return settings, market


def _check_writable_file(option: str, path: Path) -> None:
    """Before a run starts: the file's folder exists and is writable, the path is no folder."""
    folder = path.parent
    if not folder.is_dir():
        _fail(f"{option} {path}: folder {folder} does not exist")
    if path.is_dir():
        _fail(f"{option} {path}: is a folder, expected a file name")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        _fail(f"{option} {path}: not writable")


def _check_image_format(path: Path) -> None:
    from core.backtest_plot import FORMATS

    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        _fail(f"--plot {path}: unknown image format {suffix or '(no suffix)'!r}; "
              f"use one of {', '.join('.' + f for f in FORMATS)}")


def _make_folder(option: str, folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"{option} {folder}: cannot create it: {exc.strerror or exc}")
    if not os.access(folder, os.W_OK):
        _fail(f"{option} {folder}: not writable")


# -- outputs -----------------------------------------------------------------------------------


def _progress(what: str):
    """A run-finished callback printing `what: done/total runs` on stderr, at most once a
    second and always for the last run."""
    last = {"at": float("-inf")}

    def on_done(done: int, total: int, result) -> None:
        now = time.monotonic()
        if done == total or now - last["at"] >= 1.0:
            last["at"] = now
            typer.echo(f"{what}: {done}/{total} runs done (last {result.label})", err=True)

    return on_done


def _write_json(option: str, path: Path, payload: dict, *, note: str) -> None:
    try:
        path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    except OSError as exc:
        _fail(f"{option} {path}: cannot write it: {exc.strerror or exc} ({note})")
    typer.echo(f"wrote {path}", err=True)


def _draw(path: Path, market: MarketData, session) -> None:
    from core.backtest_plot import plot_backtest

    state = session.governor.state
    try:
        drawn = plot_backtest(
            path, market=market, equity=state.equity, times=state.times,
            fills=state.fills, title=f"{market.source}: run {session.run_id}")
    except (OSError, ValueError) as exc:
        _fail(f"--plot {path}: cannot write it: {getattr(exc, 'strerror', None) or exc} "
              "(the run itself is in the decision log)")
    typer.echo(f"wrote {path} ({drawn.bars} bars, {drawn.buys} buys, {drawn.sells} sells)",
               err=True)


def _cli():
    """core.cli, imported when first needed: it imports this module to register the command."""
    import core.cli

    return core.cli


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
