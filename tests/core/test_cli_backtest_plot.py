"""`quorum backtest --plot`: one image of price with a marker per fill, equity and drawdown."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
from matplotlib import colors
from matplotlib import image as mpimg
from typer.testing import CliRunner

from core.cli import app

PARITY_CONFIG = Path(__file__).parents[1] / "integration" / "parity" / "parity.toml"


def backtest(*args: str):
    return CliRunner().invoke(app, ["backtest", *args])


def pixels_near(image: np.ndarray, color: str, *, tolerance: float = 0.06) -> int:
    target = np.array(colors.to_rgb(color))
    return int((np.abs(image[..., :3] - target) < tolerance).all(axis=-1).sum())


def test_plot_draws_a_buy_per_entry_and_a_sell_per_real_exit(tmp_path, db_url, shared_data):
    out, report = tmp_path / "run.png", tmp_path / "run.json"
    result = backtest("--data", str(shared_data / "LTC_BTC-5m.csv"), "--config", str(PARITY_CONFIG),
                      "--fee", "0.001", "--plot", str(out), "--json", str(report), "--db", db_url)
    assert result.exit_code == 0, result.output
    trades = json.loads(report.read_text())["trades"]
    closed = int(re.search(r"closed trades\s+(\d+)", result.stdout).group(1))
    assert len(trades) > 100 and closed == len(trades) - 1  # the parity file ends holding LTC
    assert f"wrote {out} (5760 bars, {len(trades)} buys, {closed} sells)" in result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpimg.imread(out)
    assert image.shape[:2] == (800, 1200)
    assert pixels_near(image, "tab:green") > 100  # the buy markers
    assert pixels_near(image, "tab:red") > 100  # the sell markers
    assert pixels_near(image, "tab:purple") > 100  # the equity curve


def test_a_run_without_trades_plots_no_markers(tmp_path, db_url):
    out = tmp_path / "flat.svg"
    result = backtest("--bars", "20", "--plot", str(out), "--db", db_url)  # sma warms up 30 bars
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (20 bars, 0 buys, 0 sells)" in result.stderr
    assert out.read_text().lstrip().startswith("<?xml")


def test_plot_in_a_missing_folder_is_refused_before_the_run(tmp_path, db_url):
    out = tmp_path / "missing" / "run.png"
    result = backtest("--bars", "50", "--plot", str(out), "--db", db_url)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --plot {out}: folder {out.parent} does not exist"
    assert not Path(db_url.removeprefix("sqlite:///")).exists(), "the run must not have started"


def test_plot_onto_a_folder_or_an_unknown_format_names_the_option(tmp_path, db_url):
    result = backtest("--bars", "50", "--plot", str(tmp_path), "--db", db_url)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --plot {tmp_path}: is a folder, expected a file name"
    out = tmp_path / "run.txt"
    result = backtest("--bars", "50", "--plot", str(out), "--db", db_url)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: --plot {out}: unknown image format 'txt'")


def test_lending_round_trips_are_left_off_the_price_panel(tmp_path, db_url):
    """treasury_regime lends its base layer (AUSDC, no price line): the plot marks the market
    trades only, and lending never breaks it."""
    out, report = tmp_path / "lend.png", tmp_path / "lend.json"
    result = backtest("--strategy", "treasury_regime", "--param", "valuation_period=100",
                      "--param", "trend_slow=60", "--bars", "300", "--plot", str(out),
                      "--json", str(report), "--db", db_url)
    assert result.exit_code == 0, result.output
    trades = json.loads(report.read_text())["trades"]
    market = [t for t in trades if t["side"] != "lend"]
    assert market and len(market) < len(trades)  # both kinds happened
    # A marker per market fill, at its own bar: the strategy adds to positions, so there are
    # more buys than trades (a trade's entry_price is its average; the marker is each fill's).
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT payload_json FROM decision_log WHERE stage = 'OrderFilled'")
        fills = [json.loads(payload) for (payload,) in rows]
    buys = [f for f in fills if f["side"] == "buy" and f["asset"] != "AUSDC"]
    sells = [f for f in fills if f["side"] == "sell" and f["asset"] != "AUSDC"]
    assert len(buys) > len(market)
    assert f"wrote {out} (300 bars, {len(buys)} buys, {len(sells)} sells)" in result.stderr
