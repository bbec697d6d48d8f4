"""The treasury: fills change holdings, PnL includes both fees, refused fills change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.treasury import Trade, TreasuryAgent
from core.errors import ExecutionError
from core.models import Fill, Side

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _fill(
    side: Side,
    quantity: float,
    price: float,
    *,
    hours: int = 1,
    fee_rate: float = 0.001,
    asset: str = "BTC",
    order_id: str | None = None,
) -> Fill:
    return Fill(
        order_id=order_id or f"o-{side.value}-{hours}",
        decision_id=f"d-{side.value}-{hours}",
        tick=hours,
        ts=T0 + timedelta(hours=hours),
        asset=asset,
        side=side,
        quantity=quantity,
        price=price,
        fee_usd=quantity * price * fee_rate,
        slippage_bps=2.0,
    )


def _treasury(cash: float = 100_000.0) -> TreasuryAgent:
    return TreasuryAgent(cash_usd=cash, start=T0)


def test_buy_then_sell_realises_proceeds_minus_cost_including_both_fees():
    treasury = _treasury()
    buy = _fill(Side.BUY, 2, 100.0, hours=1)  # cost 200 + fee 0.2
    sell = _fill(Side.SELL, 2, 110.0, hours=5)  # proceeds 220 - fee 0.22
    after_buy = treasury.apply([buy])
    assert after_buy.cash_usd == pytest.approx(100_000 - 200.2)
    assert after_buy.quantity("BTC") == 2
    after_sell = treasury.apply([sell])
    expected_pnl = (220.0 - 0.22) - (200.0 + 0.2)
    assert after_sell.realized_pnl_usd == pytest.approx(expected_pnl)
    assert after_sell.cash_usd == pytest.approx(100_000 + expected_pnl)
    assert after_sell.fees_usd == pytest.approx(0.42)
    assert after_sell.positions == {}
    assert treasury.closed_trades() == [
        Trade(
            asset="BTC",
            side="long",
            entry_time=(T0 + timedelta(hours=1)).isoformat(),
            entry_price=pytest.approx(100.0),
            exit_time=(T0 + timedelta(hours=5)).isoformat(),
            exit_price=110.0,
            size=2,
            pnl=pytest.approx(expected_pnl),
        )
    ]


def test_losing_round_trip_has_negative_pnl():
    treasury = _treasury()
    treasury.apply([_fill(Side.BUY, 1, 100.0, hours=1), _fill(Side.SELL, 1, 90.0, hours=2)])
    assert treasury.realized_pnl_usd == pytest.approx((90 - 0.09) - (100 + 0.1))
    assert treasury.closed_trades()[0].pnl < 0


def test_partial_sells_split_cost_pro_rata_and_record_a_trade_each():
    treasury = _treasury()
    treasury.apply([_fill(Side.BUY, 4, 100.0, hours=1)])  # cost 400.4
    portfolio = treasury.apply([_fill(Side.SELL, 1, 120.0, hours=2)])
    first_pnl = (120 - 0.12) - 400.4 / 4
    assert portfolio.realized_pnl_usd == pytest.approx(first_pnl)
    assert portfolio.quantity("BTC") == pytest.approx(3)
    assert portfolio.positions["BTC"].avg_entry_price == pytest.approx(100.0)
    assert portfolio.positions["BTC"].opened_at == T0 + timedelta(hours=1)

    portfolio = treasury.apply([_fill(Side.SELL, 3, 90.0, hours=3)])
    second_pnl = (270 - 0.27) - 400.4 * 3 / 4
    assert portfolio.positions == {}
    assert portfolio.realized_pnl_usd == pytest.approx(first_pnl + second_pnl)
    assert portfolio.cash_usd == pytest.approx(100_000 + first_pnl + second_pnl)
    trades = treasury.closed_trades()
    assert [(t.size, t.exit_price) for t in trades] == [(1, 120.0), (3, 90.0)]
    assert [t.pnl for t in trades] == [pytest.approx(first_pnl), pytest.approx(second_pnl)]
    assert all(t.entry_price == pytest.approx(100.0) for t in trades)


def test_two_buys_average_the_entry_price():
    treasury = _treasury()
    portfolio = treasury.apply(
        [_fill(Side.BUY, 1, 100.0, hours=1), _fill(Side.BUY, 1, 200.0, hours=2)]
    )
    position = portfolio.positions["BTC"]
    assert position.quantity == 2
    assert position.avg_entry_price == pytest.approx(150.0)
    assert position.opened_at == T0 + timedelta(hours=1)


def test_equity_marks_to_the_latest_price():
    treasury = _treasury()
    treasury.apply([_fill(Side.BUY, 2, 100.0, hours=1)])
    cash = 100_000 - 200.2
    marked = treasury.mark(tick=7, ts=T0 + timedelta(hours=7), prices={"BTC": 150.0})
    assert (marked.tick, marked.ts) == (7, T0 + timedelta(hours=7))
    assert marked.equity_usd == pytest.approx(cash + 300.0)
    marked = treasury.mark(tick=8, ts=T0 + timedelta(hours=8), prices={"BTC": 80.0})
    assert marked.equity_usd == pytest.approx(cash + 160.0)
    assert marked.prices == {"BTC": 80.0}


def test_selling_more_than_held_raises_and_leaves_holdings_unchanged():
    treasury = _treasury()
    treasury.apply([_fill(Side.BUY, 2, 100.0, hours=1)])
    before = treasury.portfolio()
    with pytest.raises(ExecutionError, match=r"sells 3(\.0)? BTC but 2(\.0)? is held"):
        treasury.apply([_fill(Side.SELL, 3, 100.0, hours=2)])
    after = treasury.portfolio()
    assert after.cash_usd == before.cash_usd
    assert after.positions == before.positions
    assert after.realized_pnl_usd == before.realized_pnl_usd
    assert treasury.closed_trades() == []
    assert treasury.health()["fills_applied"] == 1


def test_selling_an_asset_not_held_raises():
    treasury = _treasury()
    with pytest.raises(ExecutionError, match="ETH but 0.0 is held"):
        treasury.apply([_fill(Side.SELL, 1, 100.0, asset="ETH")])


def test_spending_more_cash_than_held_raises_and_leaves_holdings_unchanged():
    treasury = _treasury(cash=1_000)
    with pytest.raises(ExecutionError, match="costs 1,001.00 but only 1,000.00 is held"):
        treasury.apply([_fill(Side.BUY, 10, 100.0)])
    after = treasury.portfolio()
    assert after.cash_usd == 1_000
    assert after.positions == {}


def test_refused_oversell_leaves_the_whole_portfolio_unchanged():
    treasury = _treasury()
    treasury.apply([_fill(Side.BUY, 2, 100.0, hours=1)])
    before = treasury.portfolio()
    with pytest.raises(ExecutionError):
        treasury.apply([_fill(Side.SELL, 3, 100.0, hours=2)])
    assert treasury.portfolio().fees_usd == before.fees_usd
    assert treasury.portfolio() == before


def test_refused_overspend_leaves_the_whole_portfolio_unchanged():
    treasury = _treasury(cash=1_000)
    before = treasury.portfolio()
    with pytest.raises(ExecutionError):
        treasury.apply([_fill(Side.BUY, 10, 100.0)])
    assert treasury.portfolio().fees_usd == before.fees_usd
    assert treasury.portfolio() == before


def test_buy_spending_exactly_all_cash_is_accepted():
    treasury = _treasury(cash=100.1)
    portfolio = treasury.apply([_fill(Side.BUY, 1, 100.0)])
    assert portfolio.cash_usd == pytest.approx(0.0, abs=1e-9)
    assert portfolio.quantity("BTC") == 1


def test_open_trades_marked_closes_open_positions_at_the_last_mark_without_fee():
    treasury = _treasury()
    treasury.apply([_fill(Side.BUY, 2, 100.0, hours=1), _fill(Side.BUY, 5, 10.0, asset="ETH")])
    mark_ts = T0 + timedelta(hours=9)
    treasury.mark(tick=9, ts=mark_ts, prices={"BTC": 130.0})  # ETH never marked
    marked = {t.asset: t for t in treasury.open_trades_marked()}
    assert set(marked) == {"BTC", "ETH"}
    btc = marked["BTC"]
    assert (btc.entry_price, btc.exit_price, btc.size) == (pytest.approx(100.0), 130.0, 2)
    assert btc.exit_time == mark_ts.isoformat()
    assert btc.entry_time == (T0 + timedelta(hours=1)).isoformat()
    assert btc.pnl == pytest.approx(260.0 - 200.2)
    eth = marked["ETH"]
    assert eth.exit_price == pytest.approx(10.0)  # unmarked: its entry price
    assert eth.pnl == pytest.approx(-0.05)  # only the entry fee
    assert treasury.closed_trades() == []  # marking closes nothing


def test_open_trades_marked_is_empty_after_everything_is_sold():
    treasury = _treasury()
    treasury.apply([_fill(Side.BUY, 2, 100.0, hours=1), _fill(Side.SELL, 2, 100.0, hours=2)])
    assert treasury.open_trades_marked() == []
    assert treasury.health() == {"fills_applied": 2, "open_positions": 0}


def test_open_positions_keep_the_first_entry_and_the_peak_close_until_closed():
    treasury = _treasury()
    treasury.apply([_fill(Side.BUY, 1, 100.0, hours=2)])
    treasury.mark(tick=2, ts=T0, prices={"BTC": 104.0})
    treasury.apply([_fill(Side.BUY, 1, 120.0, hours=3)])  # adding keeps the first entry tick
    treasury.mark(tick=3, ts=T0, prices={"BTC": 110.0})
    (position,) = treasury.open_positions()
    assert (position.entry_tick, position.opened_by) == (2, "d-buy-2")
    assert position.peak_price == 120.0  # the second fill's price beats every close so far
    assert position.entry_price == pytest.approx(110.0) and position.quantity == 2
    treasury.apply([_fill(Side.SELL, 2, 105.0, hours=4)])
    assert treasury.open_positions() == []
    treasury.apply([_fill(Side.BUY, 1, 90.0, hours=6)])  # a new position starts afresh
    (reopened,) = treasury.open_positions()
    assert (reopened.entry_tick, reopened.peak_price, reopened.opened_by) == (6, 90.0, "d-buy-6")


def test_opening_positions_are_held_at_their_price_and_count_in_the_starting_equity():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    treasury = TreasuryAgent(cash_usd=1_000.0, start=start, opening={"ETH": (0.5, 3_000.0)})
    portfolio = treasury.portfolio()
    assert portfolio.quantity("ETH") == 0.5 and portfolio.positions["ETH"].avg_entry_price == 3_000
    assert treasury.initial_equity_usd == portfolio.equity_usd == 2_500.0
    [held] = treasury.open_positions()
    assert (held.entry_tick, held.opened_by, held.peak_price) == (0, "opening", 3_000.0)
    with pytest.raises(ExecutionError, match="opening position BTC"):
        TreasuryAgent(cash_usd=0.0, start=start, opening={"BTC": (0.0, 60_000.0)})
