"""A deterministic run for the panel's screens: the same database, byte for byte, every time.

A seeded paper run (sma_cross and treasury_regime over the seeded synthetic market) on the local
runtime, stepped until a trade waits for a person, with every clock Quorum reads there set to
the bar being processed, and the approval queue's request ids drawn from a seeded generator
(``uuid.uuid4`` of the standard library is replaced while the run is built; no Quorum module is
touched). The kill switch is then engaged by a row written with a fixed time. The panel gets a
frozen clock: a fixed time just after the last bar, so countdowns read the same in every run.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from agents.strategies.treasury_regime import TreasuryRegimeConfig
from core.config import Settings
from core.governor import Governor
from core.human_gate import QueueGate
from core.runtime import LocalRuntime
from core.wiring import build_specs
from policies.engine import PolicyEngine
from state.approvals import ApprovalQueue
from state.approvers import ApprovalsConfig
from state.db import make_engine
from state.decision_log import DecisionLog
from state.tables import KillSwitchRow
from tests.integration.support import market, write_policy
from tui.app import QuorumApp
from tui.store import PanelStore

PERSON = "alice"
"""The approver at the panel in these tests (not the OS user: snapshots show the name)."""
FIRST_TICK_WITH_A_QUEUE = 200


@dataclass(frozen=True)
class SeededRun:
    engine: Engine
    db_url: str
    policy_path: Path
    regime: TreasuryRegimeConfig
    now: datetime
    """The frozen "now" the panel reads: 2 min 5 s after the last bar's time."""
    last_tick: int


class BarClock:
    """The clock of every Quorum store in the run: the time of the bar being processed."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


def _seeded_uuid4(seed: int):
    rng = random.Random(seed)
    return lambda: uuid.UUID(int=rng.getrandbits(128), version=4)


@pytest.fixture
def anyio_backend() -> str:
    """The panel's async tests (marked ``anyio``; its plugin comes with httpx) run on asyncio."""
    return "asyncio"


@pytest.fixture(scope="session")
def seeded_run(tmp_path_factory) -> SeededRun:
    """The deterministic run described above, built once for the whole test session."""
    tmp = tmp_path_factory.mktemp("seeded-run")
    policy_path = write_policy(tmp, auto_max=12_000)  # the big rebalancing trades need a person
    settings = Settings.model_validate({
        "run": {"seed": 11, "cash_usd": 100_000},
        "data": {"assets": ["BTC", "ETH"], "bars": 400},
        "strategies": {"enabled": ["sma_cross", "treasury_regime"],
                       "sma_cross": {"fast": 5, "slow": 20},
                       "treasury_regime": {"base_layer": "cash", "rebalance_every_bars": 24}},
        "reviewer": {"min_confidence": 0.0},
        "policy_file": str(policy_path),
    })
    db_url = f"sqlite:///{tmp / 'quorum.db'}"
    engine = make_engine(db_url)
    data = market(settings, bars=300)
    clock = BarClock(data.time(0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(uuid, "uuid4", _seeded_uuid4(5))
        runtime = LocalRuntime(build_specs(settings, data=data, db_url=db_url, run_id="s"))
        queue = ApprovalQueue(engine, clock=clock)
        governor = Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                            decision_log=DecisionLog(engine, clock=clock),
                            human_gate=QueueGate(queue), run_id="s", clock=clock)
        for tick in range(data.n_bars):
            clock.at = data.time(tick)
            governor.step(tick)
            if tick >= FIRST_TICK_WITH_A_QUEUE and queue.list(status="pending"):
                break
        else:
            pytest.fail("no trade waited for a person in the seeded run")
    engaged_at = clock.at + timedelta(seconds=30)
    with engine.begin() as conn:  # KillSwitchBoard stamps the wall clock: written here instead
        conn.execute(insert(KillSwitchRow.__table__).values(
            action="engage", by="'bob' via cli", reason="drill", at=engaged_at))
    return SeededRun(engine=engine, db_url=db_url, policy_path=policy_path,
                     regime=settings.strategies.params("treasury_regime"),
                     now=clock.at + timedelta(minutes=2, seconds=5), last_tick=tick)


def seeded_panel(run: SeededRun) -> QuorumApp:
    """The panel over the seeded run: deciding as ``alice``, its clock frozen at ``run.now``."""
    store = PanelStore(run.engine, approvers=ApprovalsConfig(tui=(PERSON,)), identity=PERSON,
                       clock=lambda: run.now)
    with contextlib.chdir(run.policy_path.parent):  # the Policy screen shows the path as given
        policy = PolicyEngine.load(run.policy_path.name)
    return QuorumApp(store, policy, regime=run.regime)
