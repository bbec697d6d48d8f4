"""`quorum backtest` as a demanding user drives it: every bad input is one line naming it, no
option is silently ignored, and what people turned down shows in the figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.cli import app
from core.errors import QuorumError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ETH_BTC-5m.csv"


def backtest(*args: str):
    return CliRunner().invoke(app, ["backtest", *args])


@pytest.mark.parametrize(
    ("args", "message"),
    [  # regressions: the first three ended in a traceback, the rest were silently ignored
        (["--bars", "100", "--seed", "-1"],
         "error: --seed: run.seed: Input should be greater than or equal to 0"),
        (["--bars", "100", "--cash", "inf"], "error: --cash: run.cash_usd: Input should be a finite"),
        (["--config", "."], "error: .: is a folder, expected a config file"),
        (["--compare", "sma_cross", "--strategy", "grid"],
         "error: --strategy: not with --compare; name the strategies there"),
        (["--data", str(DATA), "--bars", "50"],
         "error: --bars: only for synthetic data; data files are read whole"),
        (["--data", str(DATA), "--seed", "3"],
         "error: --seed: only for synthetic data; data files are read whole"),
        (["--data", ","], "error: --data ',': expected data files, comma-separated"),
        (["--bars", "100", "--param", "fast=5", "--param", "fast=6"],
         "error: --param 'fast=6': fast is given twice"),
        (["--bars", "100", "--compare", "sma_cross:fast=5:fast=6"],
         "error: --compare sma_cross:fast=5:fast=6 'fast=6': fast is given twice"),
    ],
)
def test_a_bad_or_meaningless_option_is_one_line_naming_it(args, message):
    result = backtest(*args)
    if isinstance(result.exception, QuorumError):  # what core.cli.main prints, exit 2
        code, line = 2, f"error: {result.exception}"
    else:
        code, line = result.exit_code, result.stderr.strip().splitlines()[-1]
    assert code == 2, result.output
    assert line.startswith(message), line


def test_what_people_reject_is_counted_in_the_summary_the_json_and_the_table(tmp_path):
    out = tmp_path / "rejected.json"
    result = backtest("--bars", "2000", "--human", "reject", "--json", str(out),
                      "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["to_people"] == report["rejected"] > 0
    n = report["rejected"]
    assert f"rejected {n}" in result.stdout.split("decisions by outcome", 1)[1].splitlines()[0]
    assert f"· to people {n} (rejected or expired {n})" in result.stdout
    approved = backtest("--bars", "2000", "--human", "approve", "--json", str(out),
                        "--db", f"sqlite:///{tmp_path / 'a.db'}")
    report = json.loads(out.read_text())
    assert report["to_people"] > 0 and report["rejected"] == 0, approved.output
    compared = backtest("--bars", "2000", "--human", "reject", "--compare", "sma_cross",
                        "--workers", "1")
    header, row = compared.stdout.strip().splitlines()[-2:]
    assert header.split()[-3:] == ["rejected", "final", "equity"]
    assert row.split()[-2] == str(n)


def test_none_on_the_command_line_unsets_an_optional_parameter(tmp_path):
    config = tmp_path / "stop.toml"
    config.write_text('[strategies]\nenabled = ["sma_cross"]\n[strategies.sma_cross]\n'
                      "fast = 3\nslow = 8\nexits = { stop_loss = 0.001 }\n", encoding="utf-8")
    reports = {}
    for name, extra in (("stop", []), ("none", ["--param", "exits.stop_loss=none"])):
        out = tmp_path / f"{name}.json"
        result = backtest("--bars", "300", "--config", str(config), *extra, "--json", str(out),
                          "--db", f"sqlite:///{tmp_path / name}.db")
        assert result.exit_code == 0, result.output
        reports[name] = json.loads(out.read_text())
    assert reports["stop"]["strategies"]["sma_cross"]["exits"] == {"stop_loss": 0.001}
    assert "exits" not in reports["none"]["strategies"]["sma_cross"]
    assert reports["stop"]["trades"] != reports["none"]["trades"]  # the tight stop fired


def test_a_sweeps_choice_that_never_traded_in_training_is_called_out():
    result = backtest("--bars", "1200", "--workers", "1", "--strategy", "momentum",
                      "--sweep", "entry_return=0.01:0.41:0.2", "--folds", "2",
                      "--metric", "max_drawdown")
    assert result.exit_code == 0, result.output
    assert ("    warning: fold 1's best by max_drawdown, entry_return=0.21, made no trade on its "
            "train window") in result.stdout


def test_a_logs_dir_never_appends_to_an_earlier_runs_log(tmp_path):
    logs = tmp_path / "logs"
    args = ["--bars", "240", "--compare", "sma_cross,momentum", "--workers", "1",
            "--logs-dir", str(logs)]
    assert backtest(*args).exit_code == 0
    again = backtest(*args)
    assert again.exit_code == 2
    assert again.stderr.strip() == (f"error: --logs-dir {logs}: compare-sma_cross.db is there "
                                    "from an earlier run; remove it or choose another folder")
    sweep = ["--bars", "300", "--sweep", "fast=5:6:1", "--folds", "2", "--workers", "1",
             "--logs-dir", str(tmp_path / "sweep")]
    assert backtest(*sweep).exit_code == 0
    refused = backtest(*sweep)
    assert refused.exit_code == 2 and "is there from an earlier run" in refused.stderr
    assert "sweep train" not in refused.stderr  # refused before any run


def test_a_single_run_whose_look_back_outlasts_the_data_says_so(tmp_path):
    result = backtest("--bars", "300", "--param", "slow=500", "--db",
                      f"sqlite:///{tmp_path / 'q.db'}")
    assert result.exit_code == 0, result.output
    assert ("warning: the longest indicator look-back (500 bars) is not shorter than the data "
            "(300 bars): that indicator never warms up, so no signal that reads it can come"
            ) in result.stderr
    fine = backtest("--bars", "300", "--db", f"sqlite:///{tmp_path / 'q2.db'}")
    assert "warning" not in fine.stderr


def test_a_sweep_report_names_the_data_and_the_parameters_every_set_shares(tmp_path):
    config, out = tmp_path / "c.toml", tmp_path / "sweep.json"
    config.write_text('[strategies]\nenabled = ["sma_cross"]\n[strategies.sma_cross]\n'
                      "fast = 5\nexits = { stop_loss = 0.03 }\n", encoding="utf-8")
    result = backtest("--bars", "400", "--config", str(config), "--param", "slow=20",
                      "--sweep", "exits.take_profit=0.05:0.1:0.05", "--folds", "1",
                      "--workers", "1", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert ("1 fold, 2 parameter sets over exits.stop_loss=0.03,fast=5,slow=20, best by sharpe"
            in result.stdout)
    report = json.loads(out.read_text())
    assert (report["data"], report["bars"]) == ("synthetic(seed=7)", 400)
    assert report["fixed_params"] == {"fast": 5, "exits": {"stop_loss": 0.03}, "slow": 20}


def test_a_list_parameter_takes_comma_separated_items_on_the_command_line(tmp_path):
    out, config = tmp_path / "list.json", tmp_path / "three.toml"
    config.write_text('[data]\nassets = ["BTC", "ETH", "SOL"]\n', encoding="utf-8")
    result = backtest("--bars", "300", "--config", str(config), "--strategy", "treasury_regime",
                      "--param", "tactical_assets=SOL, ETH", "--json", str(out),
                      "--db", f"sqlite:///{tmp_path / 'l.db'}")
    assert result.exit_code == 0, result.output
    assert "treasury_regime (tactical_assets=[SOL,ETH])" in result.stdout
    report = json.loads(out.read_text())
    assert report["strategies"]["treasury_regime"]["tactical_assets"] == ["SOL", "ETH"]
    traded = {trade["asset"] for trade in report["trades"]} - {"AUSDC"}  # the base layer
    assert traded == {"SOL", "ETH"}  # never BTC


@pytest.mark.parametrize("args", [
    ["--strategy", "treasury_regime", "--param", "tactical_assets=BTC,DOGE,PEPE"],
    ["--compare", "treasury_regime,momentum", "--param", "treasury_regime.tactical_assets=DOGE"],
    ["--strategy", "treasury_regime", "--param", "tactical_assets=DOGE",
     "--sweep", "confirm_bars=2:3:1", "--folds", "1", "--workers", "1"],
])
def test_a_strategy_naming_an_asset_the_data_lacks_is_refused_before_any_run(args):
    result = backtest("--bars", "200", *args)
    assert isinstance(result.exception, QuorumError), result.output  # core.cli.main: exit 2
    missing = "DOGE, PEPE are" if "PEPE" in args[-1] else "DOGE is"
    assert str(result.exception) == (
        f"strategies.treasury_regime.tactical_assets: {missing} not in the market data "
        "(it has BTC, ETH)")
    assert "tick" not in result.stderr and "sweep train" not in result.stderr


def test_a_config_no_starting_cash_can_follow_is_warned_about_in_runs_and_comparisons(tmp_path):
    single = backtest("--bars", "100", "--strategy", "dca", "--param", "amount_usd=150000",
                      "--db", f"sqlite:///{tmp_path / 'd.db'}")
    assert single.exit_code == 0, single.output
    assert single.stderr.splitlines()[0] == (
        "warning: dca: amount_usd (150,000.00) is more than the starting cash (100,000.00): "
        "a buy needs the whole amount in cash, so it never buys")
    assert "decisions by outcome  none" in single.stdout  # as warned
    compared = backtest("--bars", "100", "--workers", "1", "--compare",
                        "dca,dca:amount_usd=150000,sma_cross:slow=120,dca:amount_usd=20000,"
                        "grid:size_usd=10000.5,dca:amount_usd=10000")
    assert compared.exit_code == 0, compared.output
    warnings = [line for line in compared.stderr.splitlines() if line.startswith("warning")]
    assert warnings == [
        ("warning: dca:amount_usd=150000: amount_usd (150,000.00) is more than the starting cash "
         "(100,000.00): a buy needs the whole amount in cash, so it never buys"),
        ("warning: sma_cross:slow=120: the longest indicator look-back (120 bars) is not shorter "
         "than the data (100 bars): that indicator never warms up, so no signal that reads it "
         "can come"),
        ("warning: dca:amount_usd=20000: amount_usd (20,000.00) is more than one entry may use "
         "at the start (10,000.00, [risk] fraction of the equity): each buy is cut to that"),
        ("warning: grid:size_usd=10000.5: size_usd (10,000.50) is more than one entry may use "
         "at the start (10,000.00, [risk] fraction of the equity): each buy is cut to that, so "
         "a line crossed upward (selling size_usd) sells more than one crossed downward bought"),
    ]
    assert "dca (amount_usd=10000.0) " in compared.stdout  # ran, at the cap: no warning


def test_strategies_run_together_each_keep_their_own_book(tmp_path):
    """They once shared one position per asset and were warned so; each now has its own lots
    (tests/agents/test_strategy_books.py), and the run says nothing about it."""
    config = tmp_path / "two.toml"
    config.write_text('[strategies]\nenabled = ["sma_cross", "dca"]\n', encoding="utf-8")
    out = tmp_path / "two.json"
    result = backtest("--bars", "400", "--config", str(config), "--json", str(out),
                      "--db", f"sqlite:///{tmp_path / 't.db'}")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    assert "strategies            sma_cross, dca" in result.stdout
    trades = json.loads(out.read_text())["trades"]
    expected = " · ".join(
        f"{name} {n} trade{'s' * (n != 1)} PnL {sum(t['pnl'] for t in mine):+,.2f}"
        for name in ("sma_cross", "dca")
        if (n := len(mine := [t for t in trades if t["strategy"] == name])))
    assert expected.count("trade") == 2, "the test needs both strategies to trade"
    assert f"  by strategy           {expected}" in result.stdout.splitlines()


def test_a_strategy_aiming_past_the_policys_volatile_share_is_warned_about(tmp_path):
    """vol_target re-aims at its target every bar; above max_volatile_share (40% in the shipped
    policy) the policy denied a buy on most bars (1,354 denials in 2,000 bars before the cap)."""
    db = f"sqlite:///{tmp_path / 'v.db'}"
    wide = backtest("--bars", "300", "--strategy", "vol_target", "--param", "max_exposure=0.9",
                    "--db", db)
    assert wide.exit_code == 0, wide.output
    assert wide.stderr.splitlines()[0] == (
        "warning: vol_target: it aims for up to 90% of equity in volatile assets (max_exposure), "
        "above the policy's max_volatile_share (40%): past that, the policy denies its buys on "
        "every bar it asks")
    tactical = backtest("--bars", "300", "--strategy", "treasury_regime",
                        "--param", "base_share=0.2", "--db", db)
    assert ("aims for up to 80% of equity in volatile assets (base_share and the modes' "
            "exposures)") in tactical.stderr
    policy = tmp_path / "policy.toml"
    shipped = (Path(__file__).resolve().parents[2] / "policies" / "default.toml").read_text()
    policy.write_text(shipped.replace("max_share = 0.4", "max_share = 0.95"), encoding="utf-8")
    config = tmp_path / "q.toml"
    config.write_text(f'policy_file = "{policy}"\n', encoding="utf-8")
    allowed = backtest("--bars", "300", "--strategy", "vol_target", "--param", "max_exposure=0.9",
                       "--config", str(config), "--db", db)
    assert allowed.exit_code == 0, allowed.output
    assert "warning" not in allowed.stderr
    for defaults in ("vol_target", "treasury_regime"):
        assert "warning" not in backtest("--bars", "300", "--strategy", defaults,
                                         "--db", db).stderr
