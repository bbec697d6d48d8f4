"""`quorum backtest --config`: the config's [strategies] section is what a backtest runs;
--strategy picks one of them and --param goes over its table.

Regression: a backtest ran `--strategy` (sma_cross by default) with only the --param values,
whatever the config's [strategies] said, so its parameters, its enabled list and its exits
never reached a backtest.
"""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from core.cli import app

BARS = "400"  # synthetic hourly bars: sma_cross trades several times


def run(tmp_path, name: str, *args: str, config: str | None = None) -> dict:
    """The --json report of one backtest (its log in NAME.db), with ``config`` as its TOML."""
    options = []
    if config is not None:
        path = tmp_path / f"{name}.toml"
        path.write_text(config, encoding="utf-8")
        options = ["--config", str(path)]
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(app, ["backtest", "--bars", BARS, *options, *args, "--json",
                                      str(out), "--db", f"sqlite:///{tmp_path / name}.db"])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def rationales(tmp_path, name: str) -> list[str]:
    with sqlite3.connect(tmp_path / f"{name}.db") as conn:
        rows = conn.execute("SELECT payload_json FROM decision_log WHERE stage = 'ProposalCreated'")
        return [json.loads(payload)["proposal"]["rationale"] for (payload,) in rows]


def refusal(tmp_path, *args: str, config: str) -> str:
    path = tmp_path / "refused.toml"
    path.write_text(config, encoding="utf-8")
    result = CliRunner().invoke(app, ["backtest", "--bars", BARS, "--config", str(path), *args])
    assert result.exit_code == 2, result.output
    return result.output.strip().splitlines()[-1]


FAST_SMA = "[strategies]\nenabled = [\"sma_cross\"]\n[strategies.sma_cross]\nfast = 3\nslow = 5\n"


def test_the_configs_strategy_parameters_are_the_ones_a_backtest_runs(tmp_path):
    configured = run(tmp_path, "configured", config=FAST_SMA)
    given = run(tmp_path, "given", "--param", "fast=3", "--param", "slow=5")
    default = run(tmp_path, "default")
    assert configured["trades"] == given["trades"]
    assert configured["final_equity"] == given["final_equity"]
    assert configured["number_of_trades"] > default["number_of_trades"] > 0
    assert configured["strategies"] == given["strategies"] == {"sma_cross": {"fast": 3, "slow": 5}}
    assert default["strategies"] == {"sma_cross": {}}


def test_param_goes_over_the_configs_table_key_by_key(tmp_path):
    over = run(tmp_path, "over", "--param", "slow=5", config=FAST_SMA.replace("slow = 5", "slow = 50"))
    assert over["trades"] == run(tmp_path, "given", "--param", "fast=3", "--param", "slow=5")["trades"]


def test_the_configs_exits_reach_the_backtest_and_param_can_set_one(tmp_path):
    exits = FAST_SMA.replace("fast = 3\nslow = 5", "fast = 5\nslow = 20\n[strategies.sma_cross.exits]\nmax_hold_bars = 2")
    run(tmp_path, "exits", config=exits)
    timed = [text for text in rationales(tmp_path, "exits") if text.startswith("time exit")]
    assert timed, rationales(tmp_path, "exits")
    run(tmp_path, "param-exit", "--param", "fast=5", "--param", "slow=20",
        "--param", "exits.max_hold_bars=2")
    assert [t for t in rationales(tmp_path, "param-exit") if t.startswith("time exit")] == timed
    run(tmp_path, "no-exit", "--param", "fast=5", "--param", "slow=20")
    assert not [t for t in rationales(tmp_path, "no-exit") if t.startswith("time exit")]


def test_the_configs_enabled_list_runs_without_strategy_and_strategy_picks_one(tmp_path):
    both = "[strategies]\nenabled = [\"sma_cross\", \"momentum\"]\n[strategies.sma_cross]\nfast = 3\nslow = 5\n"
    report = run(tmp_path, "both", config=both)
    strategies = {json.loads(p)["proposal"]["strategy"] for p in _payloads(tmp_path, "both")}
    assert strategies == {"sma_cross", "momentum"}
    assert list(report["strategies"]) == ["sma_cross", "momentum"]
    picked = run(tmp_path, "picked", "--strategy", "sma_cross", config=both)
    assert picked["trades"] == run(tmp_path, "given", "--param", "fast=3", "--param", "slow=5")["trades"]
    line = refusal(tmp_path, "--param", "fast=4", config=both)
    assert line == ("error: --param: the config runs sma_cross, momentum; name one with "
                    "--strategy (or run them side by side with --compare)")


def test_compare_refuses_a_param_for_a_strategy_it_does_not_run(tmp_path):
    line = refusal(tmp_path, "--compare", "sma_cross,momentum", "--param", "grid.levels=5",
                   config=FAST_SMA)
    assert line == "error: --param grid.levels=5: grid is not among --compare sma_cross,momentum"


def _payloads(tmp_path, name: str) -> list[str]:
    with sqlite3.connect(tmp_path / f"{name}.db") as conn:
        rows = conn.execute("SELECT payload_json FROM decision_log WHERE stage = 'ProposalCreated'")
        return [payload for (payload,) in rows]


def test_a_sweep_varies_parameters_over_the_configs_table(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(FAST_SMA, encoding="utf-8")  # slow = 5: a fast of 5 is refused
    result = CliRunner().invoke(app, ["backtest", "--bars", BARS, "--config", str(path),
                                      "--sweep", "fast=3:5:1", "--folds", "1", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 of 3 parameter sets the strategy refuses" in result.stderr
    assert "fast (5) must be shorter than slow (5)" in result.stderr


def test_a_strategy_prefixed_param_is_taken_for_that_strategy_and_refused_for_another(tmp_path):
    prefixed = run(tmp_path, "prefixed", "--strategy", "momentum", "--param", "momentum.lookback=6")
    plain = run(tmp_path, "plain", "--strategy", "momentum", "--param", "lookback=6")
    assert prefixed["trades"] == plain["trades"] != []
    line = refusal(tmp_path, "--strategy", "momentum", "--param", "grid.levels=3", config=FAST_SMA)
    assert line == ("error: --param grid.levels=3: grid is not the strategy this runs "
                    "(momentum; choose it with --strategy)")


def test_a_config_that_enables_no_strategy_is_refused(tmp_path):
    line = refusal(tmp_path, config="[strategies]\nenabled = []\n")
    assert line == ("error: --config: [strategies] enables no strategy; enable one there or "
                    "name one with --strategy")


def test_compare_labels_a_table_key_dotted_and_shows_n_a_without_trades(tmp_path):
    result = CliRunner().invoke(app, ["backtest", "--bars", "40", "--compare", "sma_cross,dca",
                                      "--param", "sma_cross.exits.stop_loss=0.05",
                                      "--workers", "1"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()
            if line.startswith(("sma_cross", "dca"))}
    assert rows["sma_cross"].startswith("sma_cross (exits.stop_loss=0.05) ")
    assert rows["sma_cross"].split()[8:10] == ["n/a", "n/a"]  # 40 bars: warming up, no trade


def test_a_key_given_both_a_value_and_keys_of_its_own_is_refused_naming_the_option(tmp_path):
    line = refusal(tmp_path, "--param", "exits=3", "--param", "exits.stop_loss=0.02",
                   config=FAST_SMA)
    assert line == "error: --param 'exits.stop_loss=0.02': exits is given a value elsewhere"
    line = refusal(tmp_path, "--param", "exits.stop_loss=0.02", "--param", "exits=3",
                   config=FAST_SMA)
    assert line == ("error: --param 'exits=3': exits is a table; set its keys "
                    "(exits.KEY=v)")
    line = refusal(tmp_path, "--param", "exits=3", "--sweep", "exits.stop_loss=0.01:0.02:0.01",
                   config=FAST_SMA)
    assert line == "error: --param exits: also swept by --sweep; give it one way only"
