"""Which mode a command runs in: the config's [run] mode for `quorum run` unless --mode says
otherwise, and always paper for `quorum backtest`."""

from __future__ import annotations

import os
import subprocess
import sys

QUORUM = [sys.executable, "-m", "core.cli"]


def quorum(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*QUORUM, *args], capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL, env=env)


def test_a_config_naming_devnet_makes_run_ask_for_the_key_password(tmp_path):
    config = tmp_path / "quorum.toml"
    config.write_text('[run]\nmode = "devnet"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "QUORUM_KEYSTORE_PASSWORD"}
    result = quorum("run", "--headless", "--ticks", "5", "--config", str(config), "--db",
                    f"sqlite:///{tmp_path / 'x.db'}", env=env)
    assert result.returncode != 0
    assert "no password for key 'devnet'" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_backtest_fills_on_paper_whatever_mode_the_config_names(tmp_path):
    config = tmp_path / "quorum.toml"
    config.write_text('[run]\nmode = "devnet"\n', encoding="utf-8")
    result = quorum("backtest", "--bars", "120", "--config", str(config), "--db",
                    f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 0, result.stderr
    assert "120 ticks on the local runtime" in result.stdout
