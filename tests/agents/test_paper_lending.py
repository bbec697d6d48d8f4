"""Paper lending: a deposit is booked as the protocol's receipt asset (AUSDC), worth 1 cash unit
at the run's start and growing at the configured yearly rate; the paper executor fills deposits
and withdrawals at that price and the governor marks the treasury's receipts with the executor's receipt prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.executor import ExecutionConfig, PaperExecutor
from agents.treasury import TreasuryAgent
from core.lending import receipt_price
from core.models import Bar, Deposit, Order, Proposal, Side, Swap, Withdraw
from policies.engine import unexecutable

START = datetime(2024, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365.25)
RATE = 0.03


def bars_at(ts: datetime) -> dict[str, Bar]:
    return {"BTC": Bar(asset="BTC", ts=ts, open=100.0, high=100.0, low=100.0, close=100.0,
                       volume=1e6)}


def order(decision: str, side: Side, *, tick: int, notional: float,
          quantity: float | None = None) -> Order:
    return Order(order_id=f"o-{decision}", decision_id=decision, tick=tick, created_at=START,
                 asset="AUSDC", side=side, notional_usd=notional, quantity=quantity)


def test_a_receipt_is_worth_one_at_the_start_and_one_plus_the_rate_a_year_later():
    assert receipt_price(RATE, start=START, ts=START) == 1.0
    assert receipt_price(RATE, start=START, ts=START + YEAR) == pytest.approx(1.03, rel=1e-12)
    half = receipt_price(RATE, start=START, ts=START + YEAR / 2)
    assert half == pytest.approx(1.03**0.5, rel=1e-12)


def test_deposits_and_withdrawals_fill_at_the_accrued_price_with_no_fee_and_earn_the_rate():
    executor = PaperExecutor(ExecutionConfig(lending_rates={"AUSDC": RATE}), db_url=None,
                             start=START)
    books = TreasuryAgent(cash_usd=10_000.0, start=START)
    assert executor.submit(order("dep", Side.BUY, tick=0, notional=6_000.0))
    [deposit] = executor.settle(tick=1, bars=bars_at(START))
    assert (deposit.price, deposit.quantity, deposit.fee_usd) == (1.0, 6_000.0, 0.0)
    books.apply([deposit])
    prices = {"BTC": 100.0, **executor.receipt_prices(ts=START + YEAR)}  # as the governor marks
    assert prices["AUSDC"] == pytest.approx(1.03)
    a_year_on = books.mark(tick=2, ts=START + YEAR, prices=prices)
    assert a_year_on.cash_usd == pytest.approx(4_000.0)
    assert a_year_on.equity_usd == pytest.approx(4_000.0 + 6_000.0 * 1.03)

    held = a_year_on.quantity("AUSDC")
    assert executor.submit(order("wd", Side.SELL, tick=2, notional=1.0, quantity=held))
    [withdrawal] = executor.settle(tick=3, bars=bars_at(START + YEAR))
    assert withdrawal.price == pytest.approx(1.03) and withdrawal.quantity == held
    after = books.apply([withdrawal])
    assert after.quantity("AUSDC") == 0
    assert after.cash_usd == pytest.approx(4_000.0 + 6_000.0 * 1.03)
    assert after.realized_pnl_usd == pytest.approx(180.0)  # the interest


def lending(kind, asset="USDC", receipt="AUSDC") -> Proposal:
    return Proposal(decision_id="d", tick=0, ts=START, strategy="s",
                    action=kind(asset=asset, protocol="aave-v3", receipt=receipt),
                    notional_usd=1_000.0, rationale="r", confidence=1.0)


def test_lending_executes_only_where_the_executor_can_lend():
    for kind in (Deposit, Withdraw):
        proposal = lending(kind)
        assert proposal.asset == "AUSDC"
        assert proposal.side is (Side.BUY if kind is Deposit else Side.SELL)
        assert unexecutable(proposal, policy_version="v", mode="paper",
                            lendable=frozenset({"AUSDC"})) is None
        no_rate = unexecutable(proposal, policy_version="v", mode="paper", lendable=frozenset())
        assert "paper lending has no rate for it" in no_rate.fired[0].reason
        assert unexecutable(proposal, policy_version="v", mode="devnet",
                            lendable=frozenset({"AUSDC"})) is None  # the devnet's pool
        chain = unexecutable(proposal, policy_version="v", mode="fork", lendable=frozenset())
        assert "the fork executor has no lending pool for it" in chain.fired[0].reason
    swap = Proposal(decision_id="d", tick=0, ts=START, strategy="s", action=Swap(sell="USD", buy="BTC"),
                    notional_usd=1.0, rationale="r", confidence=1.0)
    assert unexecutable(swap, policy_version="v", mode="devnet") is None
