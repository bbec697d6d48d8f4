"""`quorum backtest --sweep`: a walk-forward grid search, chosen in sample, reported out of it."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from core.backtest_params import parameter_names
from core.backtest_runs import RunResult
from core.backtest_sweep import SweepError, best, make_folds, parse_axis, stitched
from core.cli import app
from state.db import make_engine
from state.decision_log import verify

SWEEP = ["--bars", "300", "--sweep", "fast=4:8:4", "--sweep", "slow=12:16:4", "--folds", "2"]


def backtest(*args: str):
    return CliRunner().invoke(app, ["backtest", *args])


def result(label: str, *, equity: list[float], **figures) -> RunResult:
    payload = {"return_pct": 100 * (equity[-1] / equity[0] - 1), "number_of_trades": 1,
               "sharpe": 0.0, "max_drawdown_pct": 0.0, **figures}
    return RunResult(label=label, params={"n": label}, start=0, stop=len(equity),
                     payload=payload, equity=equity,
                     times=[datetime(2024, 1, 1, tzinfo=UTC)] * len(equity), bar_seconds=3600.0,
                     run_id=label, head_hash="", log_entries=0)


def test_a_sweep_axis_includes_its_stop_and_keeps_integers_integers():
    assert parse_axis("fast=5:20:5", known={"fast"}).values == (5, 10, 15, 20)
    assert parse_axis("band=0.1:0.3:0.1", known={"band"}).values == (0.1, 0.2, 0.3)
    assert parse_axis("slow=10:19:5", known={"slow"}).values == (10, 15)
    # a whole number in a fractional axis stays an int: its label is fast=5, not fast=5.0
    halves = parse_axis("fast=5:6:0.5", known={"fast"}).values
    assert halves == (5, 5.5, 6) and [type(v) for v in halves] == [int, float, int]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("fast=5:20", "expected key=start:stop:step"),
        ("fast", "expected key=start:stop:step"),
        ("fast=5:20:0", "step is 0, it must be above 0"),
        ("fast=5:20:-5", "step is -5, it must be above 0"),
        ("fast=20:5:5", "stop 5 is below start 20"),
        ("fast=a:b:1", "start, stop and step must be numbers"),
        ("fsat=5:20:5", ("unknown parameter 'fsat'; known: fast, slow, exits.cooldown_bars, "
                         "exits.max_hold_bars, exits.stop_loss, exits.take_profit, "
                         "exits.trailing_stop")),
    ],
)
def test_a_bad_sweep_spec_is_refused_naming_it(spec, problem):
    with pytest.raises(SweepError) as refused:
        parse_axis(spec, known=parameter_names("sma_cross"))
    assert str(refused.value).startswith(f"--sweep {spec!r}: {problem}")
    result = backtest("--bars", "50", "--sweep", spec)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: --sweep {spec!r}: {problem}")


def test_folds_test_windows_follow_one_another_to_the_last_bar():
    folds = make_folds(1000, count=4, train_fraction=0.75)
    assert folds[-1].test_stop == 1000
    for before, after in itertools.pairwise(folds):
        assert after.test_start == before.test_stop  # no gap, no overlap out of sample
    for fold in folds:
        train, test = fold.test_start - fold.train_start, fold.test_stop - fold.test_start
        assert train / (train + test) == pytest.approx(0.75, abs=0.01)  # the rest of 1000/7
    with pytest.raises(SweepError, match=r"--folds 400 --train-fraction 0.7: 300 bars"):
        make_folds(300, count=400, train_fraction=0.7)
    with pytest.raises(SweepError, match=r"--train-fraction 1.5: expected a number between"):
        make_folds(300, count=2, train_fraction=1.5)


def test_best_maximises_the_metric_minimises_drawdown_and_keeps_the_first_of_a_tie():
    runs = [result("a", equity=[1, 2], sharpe=1.0, max_drawdown_pct=5.0),
            result("b", equity=[1, 2], sharpe=3.0, max_drawdown_pct=9.0),
            result("c", equity=[1, 2], sharpe=3.0, max_drawdown_pct=2.0),
            result("d", equity=[1, 2], sharpe=math.nan, max_drawdown_pct=2.0)]
    assert best(runs, "sharpe").label == "b"
    assert best(runs, "max_drawdown").label == "c"


def test_stitched_test_windows_compound_into_one_curve():
    combined = stitched([result("1", equity=[100.0, 110.0]), result("2", equity=[100.0, 90.0])],
                        initial=100.0)
    assert combined["bars"] == 4
    assert combined["return_pct"] == pytest.approx(-1.0)  # 1.1 * 0.9
    assert combined["final_equity"] == pytest.approx(99.0)
    assert combined["max_drawdown_pct"] == pytest.approx(10.0)
    assert combined["number_of_trades"] == 2


def test_sweep_tests_on_each_fold_what_won_its_train_window(tmp_path):
    out = tmp_path / "sweep.json"
    result_ = backtest(*SWEEP, "--json", str(out))
    assert result_.exit_code == 0, result_.output
    assert "sweep train: 8/8 runs done" in result_.stderr
    assert "sweep test: 2/2 runs done" in result_.stderr
    report = json.loads(out.read_text())
    assert report["grid"] == [{"fast": 4, "slow": 12}, {"fast": 4, "slow": 16},
                              {"fast": 8, "slow": 12}, {"fast": 8, "slow": 16}]
    folds = report["per_fold"]
    assert [f["test"]["start_bar"] for f in folds] == [folds[0]["train"]["stop_bar"],
                                                       folds[0]["test"]["stop_bar"]]
    assert folds[-1]["test"]["stop_bar"] == 300
    for fold in folds:
        sharpes = [run["sharpe"] for run in fold["train_runs"]]
        assert fold["best_params"] == fold["train_runs"][sharpes.index(max(sharpes))]["params"]
        assert fold["test_result"]["bars"] == fold["test"]["bars"]
        assert fold["warm_up_bars"] == fold["best_params"]["slow"]  # the slow SMA's look-back
        assert [run["bars"] for run in fold["train_runs"]] == [fold["train"]["bars"]] * 4
    combined = report["combined"]
    assert combined["bars"] == sum(f["test"]["bars"] for f in folds)
    assert combined["number_of_trades"] == sum(f["test_result"]["number_of_trades"] for f in folds)
    growth = math.prod(1 + f["test_result"]["return_pct"] / 100 for f in folds)
    assert combined["return_pct"] == pytest.approx(100 * (growth - 1))
    assert "combined: " in result_.stdout and "out of sample" in result_.stdout

    # The same sweep in this process, one run at a time, each logged to its own file: the
    # worker processes changed nothing, and every run left a log that verifies.
    logs, serial = tmp_path / "logs", tmp_path / "serial.json"
    again = backtest(*SWEEP, "--workers", "1", "--logs-dir", str(logs), "--json", str(serial))
    assert again.exit_code == 0, again.output
    by_process, by_serial = report, json.loads(serial.read_text())
    assert [f["best_params"] for f in by_serial["per_fold"]] == [f["best_params"] for f in folds]
    assert by_serial["combined"] == by_process["combined"]
    files = sorted(logs.glob("*.db"))
    assert len(files) == 8 + 2
    for path in files:
        engine = make_engine(f"sqlite:///{path}")
        try:
            assert verify(engine).ok, path.name
        finally:
            engine.dispose()


def test_a_sweep_skips_parameter_sets_the_strategy_refuses_and_says_so(tmp_path):
    result_ = backtest("--bars", "120", "--sweep", "fast=10:20:10", "--sweep", "slow=15:25:10",
                       "--folds", "1", "--workers", "1")
    assert result_.exit_code == 0, result_.output
    assert ("skipped 1 of 4 parameter sets the strategy refuses (first: fast=20,slow=15: "
            "strategies.sma_cross: fast (20) must be shorter than slow (15))"
            ) in result_.stderr
    assert "3 parameter sets" in result_.stdout


@pytest.mark.slow
def test_sweep_as_ray_tasks_gives_what_worker_processes_give(tmp_path, ray_session):
    by_ray, by_processes = tmp_path / "ray.json", tmp_path / "processes.json"
    assert backtest(*SWEEP, "--ray", "--json", str(by_ray)).exit_code == 0
    assert backtest(*SWEEP, "--json", str(by_processes)).exit_code == 0
    ray_report, process_report = (json.loads(p.read_text()) for p in (by_ray, by_processes))
    assert ray_report["combined"] == process_report["combined"]
    assert [f["best_params"] for f in ray_report["per_fold"]] == [
        f["best_params"] for f in process_report["per_fold"]]


def test_a_fold_where_no_set_traded_in_training_is_called_out():
    # 100 bars in 5 folds: 35-bar train windows, no longer than sma_cross's 30-bar warm-up
    # leaves room to cross in.
    short = backtest("--bars", "100", "--sweep", "fast=5:6:1", "--folds", "5", "--workers", "1")
    assert short.exit_code == 0, short.output
    assert ("    warning: no parameter set traded on fold 1's 35-bar train window, so the choice "
            "means nothing") in short.stdout
    # and its 13-bar test windows cannot trade either (each window starts with no history)
    assert ("    warning: fold 1's test window (13 bars) is no longer than the warm-up of fast=5 "
            "(30 bars), so it cannot trade on its indicators") in short.stdout
    enough = backtest(*SWEEP, "--workers", "1")
    assert enough.exit_code == 0, enough.output
    assert "warning" not in enough.stdout


def test_an_exit_is_swept_like_a_strategy_parameter(tmp_path):
    out = tmp_path / "exits.json"
    swept = backtest("--bars", "300", "--sweep", "exits.stop_loss=0.002:0.006:0.002",
                     "--folds", "2", "--workers", "1", "--json", str(out))
    assert swept.exit_code == 0, swept.output
    report = json.loads(out.read_text())
    assert report["grid"] == [{"exits.stop_loss": v} for v in (0.002, 0.004, 0.006)]
    for fold in report["per_fold"]:  # the stop reached every run: each level ends differently
        assert len({run["return_pct"] for run in fold["train_runs"]}) == 3, fold["train_runs"]
    assert f"fold 1 exits.stop_loss={report['per_fold'][0]['best_params']['exits.stop_loss']}" \
        in swept.stdout
    both = backtest("--bars", "300", "--sweep", "exits.stop_loss=0.002:0.004:0.002",
                    "--param", "exits.stop_loss=0.01")
    assert both.exit_code != 0
    assert "--param exits.stop_loss: also swept by --sweep; give it one way only" in both.output
