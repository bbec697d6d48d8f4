"""The `quorum` command: run the system, backtest, decide approvals, verify the audit log.

Every command that touches state takes --db URL (default: a SQLite file in the user's data
directory, or $QUORUM_DB). Errors a person can act on are printed as one line, never a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
import typer
from pydantic import SecretStr

from core.cli_audit import decisions_app
from core.cli_backtest import backtest
from core.cli_keys import keys_app
from core.cli_kill_switch import kill_switch_app
from core.cli_policy import policy_app
from core.cli_render import (
    print_summary,
    progress_due,
    progress_line,
    undecodable_argument,
)
from core.cli_state import DbOption, approvals_app, audit_app
from core.cli_strategies import strategies_app
from core.cli_tui import tui
from core.config import Settings
from core.errors import ConfigError, QuorumError
from core.feeds.base import MarketData
from core.logging import configure
from core.validation import validate
from state.db import default_db_url

try:  # Typer 0.2x parses with its own copy of Click; older ones with Click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

app = typer.Typer(rich_markup_mode=None,
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
app.command("backtest")(backtest)
app.add_typer(kill_switch_app, name="kill-switch")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config TOML (see `quorum init`)")
]
STARTER_CONFIG = Path(__file__).with_name("starter.toml")
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
    headless: Annotated[bool, typer.Option(help="No control panel; progress and summary only (the default off a terminal). On a terminal the panel opens over the run; quitting it stops the run after the tick in progress")] = False,
    ticks: Annotated[int | None, typer.Option(min=1, help="Stop after N ticks (default: all bars)")] = None,
    interval: Annotated[float, typer.Option(min=0, help="Seconds between ticks (0: as fast as the pipeline allows)")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the synthetic market (overrides config)")] = None,
    mode: Annotated[str | None, typer.Option(help="Execution mode: paper (simulated fills), devnet (a local anvil chain with Quorum's contracts), fork (anvil forking --fork-url); both need anvil and a keystore password. live trades real money through $QUORUM_RPC_URL with an existing key: it needs live_enabled = true in the policy, a terminal and a typed confirmation; its bars are the pools' spot prices sampled every --interval seconds (default [data] bar_seconds). Default: the config's [run] mode, paper")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local Ray)")] = None,
    fork_url: Annotated[str | None, typer.Option("--fork-url", envvar="QUORUM_FORK_URL", show_envvar=True, help="RPC URL anvil forks with --mode fork (never logged: it may hold an API key)")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    ctx: typer.Context = None,
) -> None:
    """Run the whole system on Ray: every agent a named actor, decisions logged, summary at the end.

    Ctrl-C stops after the tick in progress, losing nothing; a second Ctrl-C aborts.
    """
    settings = _settings(config, seed=seed)
    if seed is not None and settings.data.source == "files":
        _fail("--seed: only for synthetic data; data files are read whole")
    mode = mode or settings.run.mode
    if fork_url and mode != "fork":
        if ctx.get_parameter_source("fork_url").name == "ENVIRONMENT":
            fork_url = None  # $QUORUM_FORK_URL set for fork runs: not this one's business
        else:
            _fail(f"--fork-url is for --mode fork, not --mode {mode}")
    password = _chain_password(mode, settings)
    settings = settings.model_copy(
        update={"run": settings.run.model_copy(update={"mode": mode})})
    if mode == "live":
        settings, data = _live_market(settings, ticks=ticks, interval=interval)
        interval = 0.0  # the feed paces a live run: each tick waits for its bar to close
    else:
        from core.cli_backtest import with_market

        settings, data = with_market(
            settings, bars=ticks if settings.data.source == "synthetic" else None)
    panel = False
    if not headless:
        from core.cli_run_panel import panel_possible

        panel = panel_possible()
        if not panel:
            typer.echo("(not a terminal: running headless)", err=True)
    total = min(ticks or data.n_bars, data.n_bars)
    from core.cli_backtest import warn_strategies

    warn_strategies(settings)
    _run_session(settings, data=data, db_url=db or default_db_url(), runtime="ray",
                 gate="queue", ticks=total, interval=interval, address=address, json_out=None,
                 chain_password=password, fork_url=SecretStr(fork_url) if fork_url else None,
                 panel_config=config if panel else None, panel=panel)


def _chain_password(mode: str, settings: Settings):
    """The keystore password a chain mode needs (None for paper).

    Live first passes every condition of core/live_gate.py, then needs $QUORUM_RPC_URL and a key
    that already exists, all before the password is asked for.
    """
    if mode == "paper":
        return None
    if mode not in ("devnet", "fork", "live"):
        _fail(f"--mode {mode}: expected paper, devnet, fork or live")
    if mode == "live":
        from core.live_gate import check_live
        from policies.engine import PolicyEngine

        check_live(PolicyEngine.load(settings.policy_file), stdin=sys.stdin,
                   ask=lambda text: typer.prompt(text, default="", show_default=False))
        from core.chain.live import live_key_address, live_rpc_url

        live_rpc_url()
        live_key_address(settings.chain)
    from core.chain.passwords import keystore_password

    return keystore_password(name=settings.chain.key_name, confirm=False)


def _live_market(settings: Settings, *, ticks: int | None, interval: float
                 ) -> tuple[Settings, MarketData]:
    """A live run's cash (the wallet's, read on chain) and its feed (the pools' spot prices)."""
    from core.chain.live import LiveChain, live_rpc_url
    from core.feeds.chain_feed import ChainFeed, SpotSource

    assets = list(settings.data.assets)
    chain = LiveChain.connect(settings.chain, assets=assets)
    cash_usd = chain.opening_cash_usd()
    source = SpotSource(rpc_url=live_rpc_url(), router=chain.router,
                        quote_token=chain.tokens["USD"],
                        tokens={asset: chain.tokens[asset] for asset in assets})
    feed = ChainFeed.start(source=source, n_bars=ticks or settings.data.bars,
                           bar_s=interval or float(settings.data.bar_seconds))
    typer.echo(f"live: the wallet {chain.treasury} holds {cash_usd:,.2f} of cash; bars every "
               f"{feed.live.bar_s:g} s from the pools' spot prices", err=True)
    run = settings.run.model_copy(update={"cash_usd": cash_usd})
    return settings.model_copy(update={"run": run}), feed


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
                 address: str | None, json_out: Path | None, chain_password=None,
                 fork_url=None, panel: bool = False, panel_config: Path | None = None) -> None:
    from core.session import Session

    stop, previous_handler = _install_stop_handler()
    try:
        session = Session(settings, data=data, db_url=db_url, runtime=runtime, gate=gate,
                          address=address, chain_password=chain_password, fork_url=fork_url)
        last_line = time.monotonic()

        def on_tick(tick: int, portfolio) -> None:
            nonlocal last_line
            if progress_due(tick + 1, ticks, time.monotonic() - last_line):
                typer.echo(progress_line(tick + 1, ticks, portfolio, session.governor.state),
                           err=True)
                last_line = time.monotonic()

        if panel:
            from core.cli_run_panel import run_with_panel

            log_path = Path(platformdirs.user_log_dir("quorum")) / f"run-{session.run_id}.log"
            summary = run_with_panel(session, ticks=ticks, interval=interval, db_url=db_url,
                                     config=panel_config, log_path=log_path)
            typer.echo(f"the run's output while the panel was open: {log_path}", err=True)
        else:
            try:
                session.run(ticks, interval_s=interval, should_stop=stop, on_tick=on_tick)
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
    from core.backtest_report import summary_payload

    try:
        path.write_text(json.dumps(summary_payload(summary), indent=2), encoding="utf-8")
    except OSError as exc:
        _fail(f"--json {path}: cannot write it: {exc.strerror or exc} "
              "(the run itself is in the decision log)")
    typer.echo(f"wrote {path}", err=True)


def _settings(config: Path | None, *, seed: int | None) -> Settings:
    settings = Settings.load(config)
    if seed is not None:
        run = validate(type(settings.run),  # unset keys stay unset: cash read in the quote
                       {**settings.run.model_dump(exclude_unset=True), "seed": seed},
                       source="--seed", prefix="run")
        settings = settings.model_copy(update={"run": run})
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
    bad = undecodable_argument(sys.argv[1:])
    if bad is not None:
        typer.echo(f"error: the argument '{bad}' is not UTF-8 text", err=True)
        sys.exit(2)
    try:
        configure(level="warning")
        code = app(standalone_mode=False, prog_name="quorum")  # Click's errors come here, unboxed
    except click_errors.UsageError as exc:  # an unknown option, a value out of its range, ...
        typer.echo(f"error: {usage_message(exc)}", err=True)
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:  # a prompt answered with end of input
        typer.echo("aborted", err=True)
        sys.exit(1)
    except QuorumError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("aborted", err=True)
        sys.exit(ABORTED_EXIT_CODE)
    sys.exit(code if isinstance(code, int) else 0)


def usage_message(exc: click_errors.UsageError) -> str:
    """One line for a command line Click refused, in Quorum's words: the option first, as the
    configuration errors name their key, and where to read how it is used."""
    message = exc.format_message()
    if isinstance(exc, click_errors.BadParameter) \
            and not isinstance(exc, click_errors.MissingParameter) and exc.param is not None:
        hint = exc.param_hint or exc.param.opts or [exc.param.human_readable_name]
        message = f"{hint if isinstance(hint, str) else ' / '.join(hint)}: {exc.message}"
    command = exc.ctx.command_path if exc.ctx is not None else "quorum"
    return f"{' '.join(message.split()).rstrip('.')} (see '{command} --help')"


if __name__ == "__main__":
    main()
