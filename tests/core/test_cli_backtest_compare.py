"""`quorum backtest --compare`: several strategies, or parameter sets of one, on the same bars;
one table, one JSON."""

from __future__ import annotations

import json
import subprocess

import pytest
from typer.testing import CliRunner

from core.cli import app
from state.db import make_engine
from state.decision_log import verify
from tests.shadow import shadowed_cli

BARS = "240"  # synthetic hourly bars: enough for both strategies to trade, quick to run


def backtest(*args: str):
    return CliRunner().invoke(app, ["backtest", "--bars", BARS, *args])


def single(strategy: str, tmp_path, *params: str) -> dict:
    out = tmp_path / f"single-{strategy}.json"
    result = backtest("--strategy", strategy, *params, "--json", str(out),
                      "--db", f"sqlite:///{tmp_path / f'single-{strategy}.db'}")
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def test_compare_in_worker_processes_matches_each_strategy_run_alone(tmp_path):
    out = tmp_path / "compare.json"
    result = backtest("--compare", "sma_cross,momentum", "--param", "momentum.lookback=24",
                      "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "compare: 2/2 runs done" in result.stderr
    runs = {run["strategy"]: run for run in json.loads(out.read_text())["runs"]}
    assert list(runs) == ["sma_cross", "momentum"]
    assert runs["momentum"]["params"] == {"lookback": 24} and runs["sma_cross"]["params"] == {}
    alone = {"sma_cross": single("sma_cross", tmp_path),
             "momentum": single("momentum", tmp_path, "--param", "lookback=24")}
    for name, report in alone.items():
        assert report["number_of_trades"] > 0, f"{name} should trade on {BARS} bars"
        for key in ("final_equity", "return_pct", "sharpe", "sortino", "max_drawdown_pct",
                    "number_of_trades", "denied_by_rule", "trades"):
            assert runs[name][key] == report[key], (name, key)
    header, *rows = result.stdout.strip().splitlines()[-3:]
    assert header.split()[:6] == ["strategy", "return", "%", "CAGR", "%", "Sharpe"]
    assert {"Sortino", "DD", "trades", "PF", "denied", "vetoed", "escalated"} <= set(header.split())
    assert rows[0].startswith("sma_cross ") and rows[1].startswith("momentum (lookback=24) ")
    assert f"{runs['momentum']['return_pct']:+.2f}" in rows[1].split()


def test_compare_keeps_each_run_log_apart_and_verifiable_in_logs_dir(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "compare.json"
    result = backtest("--compare", "sma_cross,dca", "--workers", "1", "--logs-dir", str(logs),
                      "--json", str(out))
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())["runs"]
    assert sorted(p.name for p in logs.glob("*.db")) == ["compare-dca.db", "compare-sma_cross.db"]
    for run in runs:
        engine = make_engine(f"sqlite:///{logs / ('compare-' + run['strategy'] + '.db')}")
        try:
            checked = verify(engine)
        finally:
            engine.dispose()
        assert checked.ok and checked.head_hash == run["head_hash"], run["strategy"]


def test_compare_runs_parameter_sets_of_one_strategy_side_by_side(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "compare.json"
    result = backtest("--compare", "sma_cross,sma_cross:fast=5:slow=20:exits.stop_loss=0.02",
                      "--param", "sma_cross.slow=40", "--workers", "1", "--logs-dir", str(logs),
                      "--json", str(out))
    assert result.exit_code == 0, result.output
    plain, own = json.loads(out.read_text())["runs"]
    assert plain["strategy"] == own["strategy"] == "sma_cross"
    assert plain["params"] == {"slow": 40}  # --param goes under every entry of its strategy
    assert own["params"] == {"fast": 5, "slow": 20, "exits": {"stop_loss": 0.02}}  # entry wins
    alone = single("sma_cross", tmp_path, "--param", "fast=5", "--param", "slow=20",
                   "--param", "exits.stop_loss=0.02")
    assert alone["number_of_trades"] > 0
    for key in ("final_equity", "number_of_trades", "denied_by_rule", "trades"):
        assert own[key] == alone[key], key
    assert plain["trades"] != own["trades"]
    rows = result.stdout.strip().splitlines()[-2:]
    assert rows[0].startswith("sma_cross (slow=40) ")
    assert rows[1].startswith("sma_cross (exits.stop_loss=0.02,fast=5,slow=20) ")
    assert len(list(logs.glob("*.db"))) == 2  # a log file each


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare", "sma_cross,dca,sma_cross"],
         "error: --compare 'sma_cross,dca,sma_cross': sma_cross named twice"),
        (["--compare", "sma_cross,sma_cross:fast=10"],  # 10 is fast's default
         "error: --compare: sma_cross and sma_cross:fast=10 run the same parameters"),
        (["--compare", "sma_cross:fast"],
         "error: --compare 'sma_cross:fast': expected NAME or NAME:k=v:k=v"),
        (["--compare", "sma_cross:fast=abc"],
         "error: --compare sma_cross:fast=abc: strategies.sma_cross.fast: expected a number, "
         "got the text 'abc'"),
        (["--compare", "sma_cross,nope"], ("error: --compare/--param: strategies: "
                                          "unknown strategy 'nope'")),
        (["--compare", "sma_cross", "--db", "sqlite://"],
         "error: --db: --compare and --sweep give every run its own database"),
        (["--compare", "sma_cross", "--plot", "x.png"],
         "error: --plot draws one backtest: not with --compare or --sweep"),
        (["--workers", "2"], "error: --workers: only with --compare or --sweep"),
        (["--compare", "sma_cross", "--sweep", "fast=5:9:2"],
         "error: --compare and --sweep: give one of them"),
    ],
)
def test_bad_compare_options_are_one_line_naming_the_option(args, message):
    result = backtest(*args)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(message), result.stderr


@pytest.mark.parametrize("backend", [(), ("--ray",)], ids=["processes", "ray"])
def test_worker_processes_run_quorums_code_from_any_folder(tmp_path, backend):
    """Regressions: the fork server ran as `python -c` with the current directory first on its
    path, and Ray puts the driver's folder first on its workers' path, so from a folder holding
    another `core/` every worker crashed (or ran that code)."""
    command, env = shadowed_cli(tmp_path)
    result = subprocess.run(
        [*command, "backtest", "--bars", BARS,
         "--compare", "sma_cross,momentum", "--workers", "2", *backend],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-2].startswith("sma_cross")
