"""Shared fixtures: paths to the real candles, a SQLite URL per test, one Ray for the whole run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# No test may reach the real Anthropic API by accident: the key (and any base URL) leave the
# environment before anything (Ray workers included) starts. Tests marked ``live`` get the key
# back and are skipped without one.
LIVE_ANTHROPIC_KEY = os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.pop("ANTHROPIC_BASE_URL", None)


@pytest.fixture(autouse=True)
def _structlog_config_restored() -> Iterator[None]:
    """A test that runs the CLI in-process (CliRunner) reconfigures structlog for the process,
    onto a stream CliRunner then closes; the next test gets the configuration back."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(autouse=True)
def _live_key_only_for_live_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("live") is None:
        yield
        return
    if not LIVE_ANTHROPIC_KEY:
        pytest.skip("a live test: needs ANTHROPIC_API_KEY")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANTHROPIC_API_KEY", LIVE_ANTHROPIC_KEY)
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "ETH_BTC-5m.csv").exists():
        pytest.fail(f"the shared candles are missing: expected them in {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'quorum.db'}"


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray instance for the whole test run (RayRuntime reuses it, never shuts it)."""
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(num_cpus=2, include_dashboard=False, namespace="quorum", log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()
