"""`quorum tui --address` with nothing listening there fails at once, naming the address,
instead of opening a panel that waits on a cluster that is not there."""

from __future__ import annotations

import socket
import subprocess
import sys

from state.db import make_engine


def test_an_address_where_no_ray_answers_fails_fast_and_says_where(db_url):
    make_engine(db_url).dispose()
    with socket.socket() as probe:  # a port on loopback that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "tui", "--db", db_url, "--address", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in result.stderr
