"""When a headless `quorum run` prints progress: every tenth of the run, its end, and a heartbeat
for a paced run whose tenths are far apart."""

from __future__ import annotations

import pytest

from core.cli_render import HEARTBEAT_S, progress_due


@pytest.mark.parametrize(("total", "printed"), [
    (200, list(range(20, 201, 20))),
    (25, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25]),  # every 2, and the last
    (7, list(range(1, 8))),  # fewer than ten ticks: every one
])
def test_a_fast_run_prints_each_tenth_and_its_last_tick(total, printed):
    assert [done for done in range(1, total + 1) if progress_due(done, total, 0.0)] == printed


def test_a_paced_run_prints_at_least_every_heartbeat():
    # 1000 ticks a second apart would print every 100 s by tenths alone.
    assert not progress_due(7, 1000, HEARTBEAT_S - 0.5)
    assert progress_due(7, 1000, HEARTBEAT_S)
