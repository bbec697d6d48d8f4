"""The `quorum` command: run the system, backtest, decide approvals, verify the audit log.

Every command that touches state takes --db URL (default: a SQLite file in the user's data
directory, or $QUORUM_DB). Errors a person can act on are printed as one line, never a traceback.
"""

from __future__ import annotations

import json
import math
import signal
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from core.cli_audit import decisions_app
from core.cli_keys import keys_app
from core.cli_kill_switch import kill_switch_app
from core.cli_policy import policy_app
from core.cli_render import print_summary, progress_line
from core.cli_state import DbOption, approvals_app, audit_app
from core.cli_strategies import strategies_app
from core.cli_tui import tui
from core.config import Settings
from core.errors import ConfigError, QuorumError
from core.feeds.base import MarketData
from core.logging import configure
from state.db import default_db_url

app = typer.Typer(
    name="quorum",
    help="Quorum: a crypto treasury run by agents, where nothing moves money without a quorum "
    "(policy engine, reviewer, and people above the policy's thresholds). Paper trading on "
    "synthetic data is the default.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(approvals_app, name="approvals")


@app.callback()
def root(
    log_level: Annotated[str, typer.Option(help="Log events at this level and above: debug, info, warning, error")] = "warning",
) -> None:
    """Structured log events go to stderr: JSON when stderr is not a terminal."""
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        _fail(f"--log-level {log_level}: expected debug, info, warning or error")
    configure(level=log_level)

app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
app.add_typer(decisions_app, name="decisions")
app.add_typer(strategies_app, name="strategies")
app.add_typer(keys_app, name="keys")
app.command("tui")(tui)
app.add_typer(kill_switch_app, name="kill-switch")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config TOML (see `quorum init`)")
]
STARTER_CONFIG = Path(__file__).with_name("starter.toml")
USD_LIKE = frozenset({"USD", "USDT", "USDC", "BUSD", "DAI", "TUSD", "FDUSD"})
NON_USD_DEFAULT_CASH = 100.0
"""Default backtest cash for data quoted in BTC, ETH, ...: 100 units of the quote currency."""
ABORTED_EXIT_CODE = 130
"""Exit code after a second Ctrl-C aborts (128 + SIGINT), as shells report it."""


def _load_data(settings: Settings, *, bars: int | None) -> MarketData:
    data = settings.data
    if data.source == "files":
        if not data.files:
            raise ConfigError("data.source is 'files' but data.files is empty")
        from core.feeds.files import load_files

        return load_files(data.files)
    from core.feeds.synthetic import generate

    return generate(
        assets=data.assets,
        bars=bars or data.bars,
        bar_seconds=data.bar_seconds,
        start=data.start,
        seed=settings.run.seed,
    )


@app.command()
def run(
    headless: Annotated[bool, typer.Option(help="No control panel; progress and summary only")] = False,
    ticks: Annotated[int | None, typer.Option(min=1, help="Stop after N ticks (default: all bars)")] = None,
    interval: Annotated[float, typer.Option(min=0, help="Seconds between ticks (0: as fast as the pipeline allows)")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the synthetic market (overrides config)")] = None,
    mode: Annotated[str, typer.Option(help="Execution mode; only paper exists yet")] = "paper",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local Ray)")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the whole system on Ray: every agent a named actor, decisions logged, summary at the end.

    Ctrl-C stops after the tick in progress, losing nothing; a second Ctrl-C aborts.
    """
    settings = _settings(config, seed=seed)
    if mode != "paper":
        _fail(f"--mode {mode}: only paper trading exists yet (devnet, fork and live come later)")
    data = _load_data(settings, bars=ticks if settings.data.source == "synthetic" else None)
    if not headless:
        typer.echo("(the control panel is not built yet: running headless)", err=True)
    total = min(ticks or data.n_bars, data.n_bars)
    _run_session(settings, data=data, db_url=db or default_db_url(), runtime="ray",
                 gate="queue", ticks=total, interval=interval, address=address, json_out=None)


@app.command()
def backtest(
    data: Annotated[str | None, typer.Option("--data", help="OHLCV file(s), comma-separated: CSV, Parquet or Feather (default: synthetic)")] = None,
    strategy: Annotated[str, typer.Option(help="Strategy plugin to run")] = "sma_cross",
    param: Annotated[list[str] | None, typer.Option("--param", help="Strategy parameter k=v (repeatable)")] = None,
    fee: Annotated[float | None, typer.Option(min=0, max=0.1, help="Proportional fee per fill (0.001 = 0.1%)")] = None,
    cash: Annotated[float | None, typer.Option(min=0.01, help="Starting cash, in the data's quote currency (default: config's cash_usd; 100 for data quoted in BTC, ETH, ...)")] = None,
    bars: Annotated[int | None, typer.Option(min=2, help="Synthetic bars when no --data is given")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the synthetic market")] = None,
    human: Annotated[str, typer.Option(help="How the backtest stands in for people above the auto tier: approve or reject (logged as simulated)")] = "approve",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON to this file")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Backtest a strategy through the full pipeline (policy, reviewer, log) on the local runtime."""
    if human not in ("approve", "reject"):
        _fail(f"--human {human}: expected approve or reject")
    if json_out is not None:
        _check_writable_file("--json", json_out)
    settings = _settings(config, seed=seed)
    updates = {"strategies": _strategy_config(strategy, param or [])}
    if fee is not None:
        updates["execution"] = settings.execution.model_copy(update={"fee_rate": fee})
    if cash is not None:
        updates["run"] = settings.run.model_copy(update={"cash_usd": cash})
    if data:
        files = tuple(Path(p.strip()) for p in data.split(",") if p.strip())
        updates["data"] = settings.data.model_copy(update={"source": "files", "files": files})
    settings = settings.model_copy(update=updates)
    market = _load_data(settings, bars=bars)
    for note in market.notes:
        typer.echo(note, err=True)
    if cash is None and market.quote not in USD_LIKE:
        settings = settings.model_copy(update={"run": settings.run.model_copy(
            update={"cash_usd": NON_USD_DEFAULT_CASH})})
    if market.quote not in USD_LIKE:
        typer.echo(
            f"prices are in {market.quote}: cash ({settings.run.cash_usd:g} {market.quote}), "
            f"fees and policy limits are read in {market.quote} (set --cash to change)",
            err=True,
        )
    _run_session(settings, data=market, db_url=db or default_db_url(), runtime="local",
                 gate=human, ticks=market.n_bars, interval=0.0, address=None, json_out=json_out)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config")] = Path("quorum.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file")] = False,
) -> None:
    """Write a commented starter config."""
    if path.exists() and not force:
        _fail(f"{path} exists; pass --force to overwrite it")
    try:
        path.write_text(STARTER_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}")
    typer.echo(f"wrote {path}; run it with: quorum run --config {path} --headless --ticks 200")


def _run_session(settings: Settings, *, data: MarketData, db_url: str,
                 runtime: Literal["local", "ray"], gate: str, ticks: int, interval: float,
                 address: str | None, json_out: Path | None) -> None:
    from core.session import Session

    stop, previous_handler = _install_stop_handler()
    try:
        session = Session(settings, data=data, db_url=db_url, runtime=runtime, gate=gate,
                          address=address)
        every = max(1, ticks // 10)

        def on_tick(tick: int, portfolio) -> None:
            if (tick + 1) % every == 0 or tick + 1 == ticks:
                typer.echo(progress_line(tick + 1, ticks, portfolio, session.governor.state),
                           err=True)

        try:
            session.governor.run(range(ticks), interval_s=interval, should_stop=stop,
                                 on_tick=on_tick)
        finally:
            summary = session.finish()
        print_summary(summary, stopped_early=summary.ticks < ticks)
        if json_out is not None:
            _write_json(json_out, summary)
    except KeyboardInterrupt:
        # Typer would turn it into a silent exit 130; say what happened.
        _abort()
    finally:
        signal.signal(signal.SIGINT, previous_handler)


def _write_json(path: Path, summary) -> None:
    payload = {
        "bars": summary.ticks,
        "trades": [t.to_dict() for t in summary.trades],
        "final_equity": summary.equity_usd,
        "return_pct": summary.return_pct,
        "max_drawdown_pct": summary.max_drawdown_pct,
        "sharpe": summary.sharpe,
        "sortino": summary.sortino,
        "cagr_pct": summary.cagr_pct,
        "win_rate_pct": summary.win_rate_pct,
        # JSON has no infinity: profits and no loss at all give null
        "profit_factor": summary.profit_factor if math.isfinite(summary.profit_factor) else None,
        "exposure_pct": summary.exposure_pct,
        "number_of_trades": len(summary.trades),
        "denied_by_rule": summary.denied_by_rule,
        "vetoed": summary.vetoed,
        "escalated": summary.escalated,
        "elapsed_s": summary.elapsed_s,
    }
    try:
        path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    except OSError as exc:
        _fail(f"--json {path}: cannot write it: {exc.strerror or exc} "
              "(the run itself is in the decision log)")
    typer.echo(f"wrote {path}", err=True)


def _check_writable_file(option: str, path: Path) -> None:
    """Before a run starts: the file's folder exists and the path is not a folder."""
    folder = path.parent
    if not folder.is_dir():
        _fail(f"{option} {path}: folder {folder} does not exist")
    if path.is_dir():
        _fail(f"{option} {path}: is a folder, expected a file name")


def _strategy_config(name: str, params: list[str]) -> dict:
    table: dict[str, object] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--param {item!r}: expected key=value")
        table[key.strip()] = _number(value.strip())
    from pydantic import ValidationError

    from agents.strategy import StrategiesConfig
    from core.validation import describe

    try:
        return StrategiesConfig.model_validate({"enabled": [name], name: table})
    except ValidationError as exc:
        _fail(describe(exc, source="--strategy/--param", prefix="strategies"))


def _number(text: str) -> object:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _settings(config: Path | None, *, seed: int | None) -> Settings:
    settings = Settings.load(config)
    if seed is not None:
        settings = settings.model_copy(update={"run": settings.run.model_copy(update={"seed": seed})})
    return settings


def _install_stop_handler():
    """First Ctrl-C: finish the tick in progress, then stop. Second: abort.

    Returns the stop flag's reader and the handler it replaced, to put back after the run.
    """
    requested = {"stop": False}

    def handler(signum, frame):
        if requested["stop"]:
            raise KeyboardInterrupt
        requested["stop"] = True
        typer.echo("stopping after this tick (Ctrl-C again to abort)", err=True)

    previous = signal.signal(signal.SIGINT, handler)
    return (lambda: requested["stop"]), previous


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _abort() -> None:
    typer.echo("aborted", err=True)
    raise typer.Exit(ABORTED_EXIT_CODE)


def main() -> None:
    try:
        configure(level="warning")
        app()
    except QuorumError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("aborted", err=True)
        sys.exit(ABORTED_EXIT_CODE)


if __name__ == "__main__":
    main()
