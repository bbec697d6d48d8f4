"""`quorum run --mode devnet --headless --ticks 63` as a person runs it, then two checks:
the treasury's books equal the wallet's balances on chain, and no secret leaked anywhere.

The run creates its devnet key in a fresh keys folder on first use. Afterwards the test itself
decrypts that key file (with the password it chose) and scans for the private key and the
password: the run's stdout and stderr (the screen), the database file, and every Ray log the
run's processes wrote (the executor, which unlocks the key, is an actor).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account

from core.chain.settings import DEVNET_KEY_NAME

PASSWORD = "devnet-password-that-must-never-leak-7f3a"
RAY_LOGS = Path("/tmp/ray")
# The default config (synthetic seed 7, sma_cross 10/30) first trades at tick 52. In 63 ticks
# the chain fills a BTC buy (tick 52), an ETH buy (56) and the ETH sell (61), and one entry is
# denied (61); the run ends with BTC held, so the books are compared to the chain on a
# non-zero position as well as on cash. (Synthetic series are prefixes of longer ones, so these
# are the first fills of any longer run; ticks 63-99 only added more of the same.)
TICKS = 63


@pytest.fixture(scope="module")
def devnet_run(tmp_path_factory, anvil_binary):
    folder = tmp_path_factory.mktemp("devnet-run")
    db = folder / "run.db"
    env = {**os.environ, "QUORUM_KEYS_DIR": str(folder / "keys"),
           "QUORUM_KEYSTORE_PASSWORD": PASSWORD,
           "PATH": f"{anvil_binary.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "run", "--mode", "devnet", "--headless",
         "--ticks", str(TICKS), "--db", f"sqlite:///{db}"],
        capture_output=True, text=True, timeout=400, env=env, check=False,
    )
    return result, db, folder / "keys", started


def entries(db: Path, stage: str) -> list[dict]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT payload_json FROM decision_log WHERE stage = ?", (stage,))
        return [json.loads(payload) for (payload,) in rows]


@pytest.mark.slow
def test_a_devnet_run_ends_with_the_books_equal_to_the_chain(devnet_run):
    result, db, _, _ = devnet_run
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{TICKS} ticks on the ray runtime" in result.stdout
    [started] = entries(db, "RunStarted")
    assert started["mode"] == "devnet"
    fills = entries(db, "OrderFilled")
    assert len(fills) > 0, "the run traded nothing on chain"
    assert {fill["side"] for fill in fills} == {"buy", "sell"}, fills  # both ways on chain
    assert entries(db, "TreasuryMismatch") == []
    [balances] = entries(db, "ChainBalances")
    assert balances["address"] == started["treasury_address"]
    on_chain = {asset: Decimal(amount) for asset, amount in balances["on_chain"].items()}
    assert set(on_chain) == {"USD", "BTC", "ETH", "AUSDC"}  # AUSDC: the lending pool
    for asset, amount in on_chain.items():
        booked = Decimal(repr(balances["treasury"].get(asset, 0.0)))
        assert abs(booked - amount) <= Decimal("1e-6") * max(1, abs(amount)), asset
    assert on_chain["USD"] < Decimal(100_000)  # cash went into the pools and came back less
    assert on_chain["BTC"] > 0  # still held at the end: the books match a position, not just zeros


@pytest.mark.slow
def test_no_key_or_password_reaches_the_screen_the_database_or_a_log(devnet_run):
    result, db, keys, started = devnet_run
    assert result.returncode == 0, result.stderr[-3000:]
    keyfile = json.loads((keys / f"{DEVNET_KEY_NAME}.json").read_text())
    key_hex = Account.decrypt(keyfile, PASSWORD).hex().removeprefix("0x").lower()
    secrets = {"password": PASSWORD.encode(), "private key": key_hex.encode()}
    places = {"stdout": result.stdout.encode(), "stderr": result.stderr.encode()}
    for path in [db, *db.parent.glob("run.db-*")]:
        places[str(path)] = path.read_bytes()
    ray_logs = [p for p in RAY_LOGS.rglob("*") if p.is_file() and p.stat().st_mtime >= started
                and "logs" in p.parts]
    assert ray_logs, "the run's Ray logs were not found"
    for path in ray_logs:
        places[str(path)] = path.read_bytes()
    for where, content in places.items():
        for name, secret in secrets.items():
            assert secret not in content.lower() if name == "private key" else secret not in content, (
                f"the {name} appears in {where}")
