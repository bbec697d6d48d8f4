"""Reference parity (issue 6): Quorum's all-in SMA cross trades exactly as backtesting.py does.

On the real 5m candles, `quorum backtest` (the real command: governor, risk, policy, reviewer,
simulated approving gate, paper executor, decision log) configured by tests/integration/parity/
(all-in sizing, no slippage, a permissive policy) must make the same round trips, entry and exit
bar for bar, as backtesting.py's FractionalBacktest running a long-only SMA cross with the same
commission, `trade_on_close=False` and `finalize_trades=True`, and end within 0.1% of its equity.

Final equity is compared as both define it for a position still open after the last bar: Quorum
marks it at the last close with no exit fee; backtesting.py's `finalize_trades=True` sells it at
the last bar's *open* and charges the commission (its re-run of the last bar). So the equity is
checked against backtesting.py's own mark-to-market (`finalize_trades=False`), and against the
finalized figure too whenever the run ends flat. The strategies differ in one tie: Quorum enters
when fast <= slow on the bar before, `backtesting.lib.crossover` only when fast < slow; no tie
occurs on these candles, and a tie would show up here as a different trade.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover
from typer.testing import CliRunner

from agents.strategies.sma_cross import SmaCrossConfig
from core.cli import app

PARITY_CONFIG = Path(__file__).with_name("parity") / "parity.toml"
FEE = 0.001
CASH = 100.0  # in BTC, the quote currency of these files
FILES = ["ETH_BTC-5m.csv",  # flat at the end
         "LTC_BTC-5m.csv",  # enters on the last bar: the end-of-data conventions differ
         "XMR_BTC-5m.csv", "DASH_BTC-5m.csv", "ETC_BTC-5m.csv"]  # bars missing: bars are rows
DEFAULTS = SmaCrossConfig()


def _sma(values, period: int):
    return pd.Series(values).rolling(period).mean().to_numpy()


class LongOnlySmaCross(Strategy):
    """The reference: all-in on a cross above, flat on a cross below."""

    fast = DEFAULTS.fast
    slow = DEFAULTS.slow

    def init(self) -> None:
        self.sma_fast = self.I(_sma, self.data.Close, self.fast)
        self.sma_slow = self.I(_sma, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.sma_fast, self.sma_slow) and not self.position:
            self.buy()  # default size: all available equity
        elif crossover(self.sma_slow, self.sma_fast) and self.position:
            self.position.close()


def read_candles(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["date"], index_col="date")
    return frame.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]


def reference(candles: pd.DataFrame, *, finalize_trades: bool) -> pd.Series:
    backtest = FractionalBacktest(candles, LongOnlySmaCross, cash=CASH, commission=FEE,
                                  trade_on_close=False, finalize_trades=finalize_trades)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Some trades remain open")
        return backtest.run()


def quorum_backtest(path: Path, *, tmp_path: Path, db_url: str) -> dict:
    """The real `quorum backtest` command, in this process (imports are shared, not repeated)."""
    out = tmp_path / "quorum.json"
    result = CliRunner().invoke(app, [
        "backtest", "--data", str(path), "--config", str(PARITY_CONFIG),
        "--strategy", "sma_cross",
        "--param", f"fast={DEFAULTS.fast}", "--param", f"slow={DEFAULTS.slow}",
        "--fee", str(FEE), "--cash", str(CASH), "--json", str(out), "--db", db_url,
    ])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", FILES)
def test_all_in_sma_cross_matches_backtesting_py_trade_for_trade(
    name, shared_data, tmp_path, db_url
):
    candles = read_candles(shared_data / name)
    finalized = reference(candles, finalize_trades=True)
    marked = reference(candles, finalize_trades=False)
    report = quorum_backtest(shared_data / name, tmp_path=tmp_path, db_url=db_url)

    bar_of = {ts: i for i, ts in enumerate(candles.index)}
    ours = [(bar_of[pd.Timestamp(t["entry_time"])], bar_of[pd.Timestamp(t["exit_time"])])
            for t in report["trades"]]
    theirs = list(zip(finalized["_trades"].EntryBar.tolist(),
                      finalized["_trades"].ExitBar.tolist(), strict=True))
    assert len(theirs) > 100, "the reference should trade on 20 days of 5m bars"
    assert ours == theirs

    # Both fill at the next bar's open, with no slippage: the same prices, to rounding.
    closed = len(marked["_trades"])  # round trips closed by a signal, not by the end of data
    assert [t["entry_price"] for t in report["trades"]] == pytest.approx(
        finalized["_trades"].EntryPrice.tolist(), rel=1e-9)
    assert [t["exit_price"] for t in report["trades"][:closed]] == pytest.approx(
        marked["_trades"].ExitPrice.tolist(), rel=1e-9)

    assert report["final_equity"] == pytest.approx(marked["Equity Final [$]"], rel=1e-3)
    if closed == len(theirs):  # flat at the end: nothing for the two conventions to differ on
        assert report["final_equity"] == pytest.approx(finalized["Equity Final [$]"], rel=1e-3)

    # The summary's figures, as backtesting.py's stats give them: the return and the drawdown
    # of the equity marked at each close, on every file.
    assert report["return_pct"] == pytest.approx(marked["Return [%]"], rel=1e-6)
    assert report["max_drawdown_pct"] == pytest.approx(-marked["Max. Drawdown [%]"], rel=1e-6)
    if closed == len(theirs):  # the per-trade figures, where the last trade closes the same way
        stats, pnl = finalized, finalized["_trades"].PnL
        assert report["number_of_trades"] == stats["# Trades"]
        assert report["win_rate_pct"] == pytest.approx(stats["Win Rate [%]"], rel=1e-9)
        assert report["cagr_pct"] == pytest.approx(stats["CAGR [%]"], abs=0.01)  # year lengths
        # backtesting.py's profit factor divides the trades' percentage returns, Quorum's (the
        # usual definition) their profits and losses: the latter, from its trades.
        assert report["profit_factor"] == pytest.approx(
            pnl[pnl > 0].sum() / -pnl[pnl < 0].sum(), rel=1e-9)
        # backtesting.py counts each trade's exit bar as exposed (it sells at that bar's open);
        # Quorum counts the bars that close holding a position.
        assert report["exposure_pct"] + 100 * len(theirs) / len(candles) == pytest.approx(
            stats["Exposure Time [%]"], rel=1e-9)
