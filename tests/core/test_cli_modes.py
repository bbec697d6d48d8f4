"""Which mode a command runs in: the config's [run] mode for `quorum run` unless --mode says
otherwise, and always paper for `quorum backtest`; and what --mode live asks for once its gate
(core/live_gate.py) is passed, typed on a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from core.live_gate import CONFIRMATION
from policies.engine import DEFAULT_POLICY

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


def run_on_a_terminal(args: list[str], env: dict[str, str], answers: dict[str, str],
                      timeout_s: float = 120) -> tuple[int, str]:
    """Run python ``args`` with a pseudo-terminal as its controlling terminal (stdin, stdout,
    stderr and /dev/tty), typing each answer once its prompt shows. Returns the exit code and
    everything the terminal showed."""
    pid, terminal = pty.fork()
    if pid == 0:
        try:
            os.execve(sys.executable, [sys.executable, *args], env)
        finally:
            os._exit(127)
    shown, pending = b"", dict(answers)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            for prompt in [p for p in pending if p.encode() in shown]:
                os.write(terminal, pending.pop(prompt).encode() + b"\r")
        else:
            os.kill(pid, 9)
    finally:
        os.close(terminal)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def live_config(tmp_path: Path) -> Path:
    policy = tmp_path / "live.toml"
    policy.write_text(DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        "live_enabled = false", "live_enabled = true"), encoding="utf-8")
    config = tmp_path / "quorum.toml"
    config.write_text(f'policy_file = "{policy}"\n[chain]\nkey_name = "mine"\n'
                      f'keys_dir = "{tmp_path / "keys"}"\n', encoding="utf-8")
    return config


def live_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("QUORUM_RPC_URL", "QUORUM_KEYSTORE_PASSWORD")}
    return {**env, "TERM": "dumb", "COLUMNS": "200", **extra}


def test_past_the_gate_live_needs_the_rpc_url_before_anything_starts(tmp_path):
    code, shown = run_on_a_terminal(
        [*QUORUM[1:], "run", "--mode", "live", "--headless", "--config", str(live_config(tmp_path)),
         "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        live_env(), answers={"to go on": CONFIRMATION})
    assert code != 0
    assert "set QUORUM_RPC_URL to its RPC URL" in shown
    assert "Password" not in shown  # refused before the password was asked for
    assert not (tmp_path / "x.db").exists()


def test_live_never_creates_a_key_and_says_how_to_make_one(tmp_path):
    secret = "http://127.0.0.1:9/v3/rpc-key-that-must-not-show-9d2c"
    code, shown = run_on_a_terminal(
        [*QUORUM[1:], "run", "--mode", "live", "--headless", "--config", str(live_config(tmp_path)),
         "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        live_env(QUORUM_RPC_URL=secret), answers={"to go on": CONFIRMATION})
    assert code != 0
    assert "key 'mine', which is not in" in shown
    assert "`quorum keys new --name mine`" in shown.replace("\r\n", " ").replace("\n", " ")
    assert "rpc-key-that-must-not-show" not in shown
    assert not (tmp_path / "keys" / "mine.json").exists()
    assert not (tmp_path / "x.db").exists()


def test_a_fork_url_in_the_environment_is_for_fork_runs_only_and_a_typed_one_is_checked(tmp_path):
    """$QUORUM_FORK_URL, set as the README suggests, used to refuse every paper run."""
    missing = f"sqlite:///{tmp_path / 'nope' / 'x.db'}"  # stops the run after the mode checks
    env = {**os.environ, "QUORUM_FORK_URL": "https://eth.example/v2/KEY"}
    from_env = quorum("run", "--headless", "--ticks", "3", "--db", missing, env=env)
    assert from_env.returncode == 2
    assert from_env.stderr.strip().endswith(f"folder {tmp_path / 'nope'} does not exist")
    typed = quorum("run", "--headless", "--ticks", "3", "--fork-url", "http://127.0.0.1:1",
                   "--db", missing)
    assert typed.stderr.strip() == "error: --fork-url is for --mode fork, not --mode paper"
    assert "KEY" not in from_env.stderr + typed.stderr


def test_run_refuses_a_seed_for_data_files_as_backtest_does(tmp_path, shared_data):
    config = tmp_path / "quorum.toml"
    config.write_text(f'[data]\nsource = "files"\nfiles = ["{shared_data / "ETH_BTC-5m.csv"}"]\n',
                      encoding="utf-8")
    result = quorum("run", "--headless", "--ticks", "3", "--seed", "3", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --seed: only for synthetic data; data files are "
                                     "read whole")
