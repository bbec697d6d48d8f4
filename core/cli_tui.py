"""`quorum tui`: the control panel over the shared database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli_state import DbOption
from core.config import Settings
from state.db import default_db_url, open_existing


def tui(
    db: DbOption = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config TOML: the tui allowlist of its approvals section "
                                  "allowlist says who may decide (default: your OS user)")
    ] = None,
) -> None:
    """Open the control panel: pending approvals with countdowns (approve `a`, reject `r`, each
    confirmed) and the decision log with every trace and the audit status. Keys: `A` approvals,
    `L` decisions, `P` policy, `K` kill switch, `?` all keys, `q` quit. You act as your OS user; off the allowlist the panel is
    read-only."""
    from policies.engine import PolicyEngine
    from tui.app import QuorumApp
    from tui.store import PanelStore

    settings = Settings.load(config)
    policy = PolicyEngine.load(settings.policy_file)
    engine = open_existing(db or default_db_url())
    try:
        QuorumApp(PanelStore(engine, approvers=settings.approvals), policy).run()
    finally:
        engine.dispose()
