"""A treasury whose books stop matching the chain engages the kill switch on the next tick.

A devnet session (local runtime) trades normally; then the wallet's USDC is changed behind
Quorum's back (anvil_dealERC20, as a hack or a stray transfer would), and the next tick's
reconciliation must log the mismatch and engage the kill switch, which then denies entries.
"""

from __future__ import annotations

import json
import sqlite3

from pydantic import SecretStr

from core.chain.adapters.erc20 import Erc20
from core.chain.anvil import rpc
from core.config import Settings
from core.feeds.synthetic import generate
from core.session import Session

PASSWORD = SecretStr("reconcile-test-password")


def test_a_balance_changed_behind_quorums_back_engages_the_kill_switch(tmp_path, anvil_binary,
                                                                     monkeypatch):
    monkeypatch.setenv("QUORUM_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("PATH", f"{anvil_binary.parent}:{__import__('os').environ['PATH']}")
    settings = Settings.model_validate({"run": {"mode": "devnet", "seed": 7},
                                        "data": {"bars": 40}})
    data = generate(assets=settings.data.assets, bars=40, bar_seconds=3600,
                    start=settings.data.start, seed=7)
    db = tmp_path / "run.db"
    session = Session(settings, data=data, db_url=f"sqlite:///{db}", runtime="local",
                      gate="approve", chain_password=PASSWORD)
    try:
        for tick in range(3):
            session.governor.step(tick)
        assert not session.governor.kill_switch_engaged
        venue = session.venue
        usdc = Erc20(venue.w3, venue.executor_config.quote_token)
        extra = usdc.balance_of(venue.treasury) + 1_000 * 10**6
        rpc(venue.w3, "anvil_dealERC20", [venue.treasury, usdc.address, hex(extra)])
        session.governor.step(3)
        assert session.governor.kill_switch_engaged
    finally:
        session.finish()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT stage, payload_json FROM decision_log").fetchall()
    mismatches = [json.loads(p) for s, p in rows if s == "TreasuryMismatch"]
    assert mismatches and mismatches[0]["mismatches"][0].startswith("USD: treasury books")
    [engaged] = [json.loads(p) for s, p in rows if s == "KillSwitchEngaged"]
    assert engaged["by"] == "reconciler" and "treasury differs from the chain" in engaged["reason"]
