"""A live run's compute agent compiles every kernel when it starts, so no tick pays for it; a
backtest's compiles only what it calls (its first run on a new install: 13 s instead of 26)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from core.config import Settings
from core.feeds.synthetic import generate
from core.wiring import build_specs

# A fresh interpreter: in this one, earlier tests may already have compiled the kernels.
PROBE = """
from agents.compute import ComputeAgent
from core.kernels import _core, _fused
kernels = (_fused.fused_2d, _core.series_2d, _core.batch_2d)
ComputeAgent(warm_up=False)
cold = [len(k.signatures) for k in kernels]
ComputeAgent()
print(cold, [len(k.signatures) > 0 for k in kernels])
"""


def test_warm_up_compiles_every_kernel_and_only_when_asked():
    shown = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           check=True, timeout=600)
    assert shown.stdout.split("\n")[0] == "[0, 0, 0] [True, True, True]", shown.stderr


def test_only_a_live_run_warms_its_compute_agent_up():
    settings = Settings()
    data = generate(assets=["BTC"], bars=50, seed=1, start=datetime(2024, 1, 1, tzinfo=UTC))
    for backtest in (True, False):
        (compute,) = [spec for spec in build_specs(settings, data=data, db_url=None, run_id="r",
                                                   backtest=backtest) if spec.name == "compute"]
        assert compute.kwargs == {"warm_up": not backtest}
