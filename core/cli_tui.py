"""`quorum tui`: the control panel over the shared database (and a running system's actors)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli_state import DbOption
from core.config import Settings
from state.db import default_db_url, open_existing

REGIME = "treasury_regime"


def tui(
    db: DbOption = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config TOML: its [approvals] tui "
                                  "allowlist says who may decide (default: your OS user); its "
                                  "treasury_regime strategy gives the Dashboard's targets")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray address (host:port, or auto) of a "
                                 "running `quorum run`: Dashboard and Agents then ask "
                                 "its actors; without it the panel reads the database only")
    ] = None,
) -> None:
    """Open the control panel: pending approvals with countdowns (approve `a`, reject `r`, each
    confirmed) and the decision log with every trace and the audit status. Keys: `A` approvals,
    `L` decisions, `P` policy, `K` kill switch, `D` dashboard, `H` agents, `?` all keys, `q`
    quit. You act as your OS user; off the allowlist the panel is read-only."""
    from policies.engine import PolicyEngine
    from tui.app import QuorumApp
    from tui.store import PanelStore

    settings = Settings.load(config)
    policy = PolicyEngine.load(settings.policy_file)
    strategies = settings.strategies
    regime = strategies.params(REGIME) if REGIME in strategies.enabled else None
    agents = None
    if address is not None:
        from tui.actors import connect

        agents = connect(address)  # fails fast, naming the address, when nothing answers
    engine = open_existing(db or default_db_url())
    try:
        QuorumApp(PanelStore(engine, approvers=settings.approvals), policy, agents=agents,
                  regime=regime).run()
    finally:
        engine.dispose()
