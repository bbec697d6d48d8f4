"""The paper executor: next-bar-open fills with fee and slippage, exactly once per decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.executor import ExecutionConfig, PaperExecutor
from core.errors import ExecutionError
from core.models import Bar, Order, Side
from core.slippage import SlippageModel
from state.db import make_engine
from state.orders import OrderStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FEE_RATE = 0.001


def _bar(tick: int, *, open_: float, close: float, volume: float = 50.0) -> Bar:
    return Bar(
        asset="BTC",
        ts=T0 + timedelta(hours=tick),
        open=open_,
        high=max(open_, close) * 1.01,
        low=min(open_, close) * 0.99,
        close=close,
        volume=volume,
    )


# The submitting tick's bar and the next one differ in every price, so a fill at the wrong bar
# shows up as a wrong price.
BARS = {
    0: {"BTC": _bar(0, open_=100.0, close=101.0)},
    1: {"BTC": _bar(1, open_=105.0, close=99.0)},
    2: {"BTC": _bar(2, open_=98.0, close=97.0)},
}


def _order(
    decision_id: str = "run-000000-0",
    *,
    side: Side = Side.BUY,
    notional: float = 1_000.0,
    quantity: float | None = None,
    tick: int = 0,
    order_id: str | None = None,
) -> Order:
    return Order(
        order_id=order_id or f"ord-{decision_id}",
        decision_id=decision_id,
        tick=tick,
        created_at=T0 + timedelta(hours=tick),
        asset="BTC",
        side=side,
        notional_usd=notional,
        quantity=quantity,
    )


def _executor(db_url: str | None = None) -> PaperExecutor:
    return PaperExecutor(ExecutionConfig(fee_rate=FEE_RATE), db_url=db_url)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/q.db"


def _slip(notional: float, price: float, volume: float = 50.0) -> float:
    return SlippageModel().bps(notional_usd=notional, price=price, bar_volume=volume)


def test_an_order_is_not_filled_on_the_bar_of_the_tick_that_submitted_it():
    executor = _executor()
    assert executor.submit(_order(tick=0))
    assert executor.settle(tick=0, bars=BARS[0]) == []
    assert executor.health() == {"pending": 1, "filled": 0}


def test_buy_fills_at_the_next_bars_open_moved_up_by_slippage():
    executor = _executor()
    executor.submit(_order(tick=0, notional=1_000))
    executor.settle(tick=0, bars=BARS[0])
    [fill] = executor.settle(tick=1, bars=BARS[1])
    slip = _slip(1_000, 105.0)
    assert slip > 2.0  # the thin bar makes size matter
    assert fill.slippage_bps == pytest.approx(slip)
    assert fill.price == pytest.approx(105.0 * (1 + slip / 1e4))
    assert fill.price > 105.0
    assert (fill.tick, fill.ts, fill.side) == (1, BARS[1]["BTC"].ts, Side.BUY)
    assert fill.decision_id == "run-000000-0"
    assert executor.health() == {"pending": 0, "filled": 1}


def test_buy_fee_is_rate_times_quantity_times_price_and_spends_exactly_the_notional():
    executor = _executor()
    executor.submit(_order(notional=2_500))
    [fill] = executor.settle(tick=1, bars=BARS[1])
    assert fill.fee_usd == pytest.approx(FEE_RATE * fill.quantity * fill.price)
    assert fill.quantity * fill.price + fill.fee_usd == pytest.approx(2_500, rel=1e-12)


def test_sell_fills_at_the_next_bars_open_moved_down_by_slippage_for_the_exact_quantity():
    executor = _executor()
    executor.submit(_order(side=Side.SELL, notional=315.0, quantity=3.0))
    [fill] = executor.settle(tick=1, bars=BARS[1])
    slip = _slip(315.0, 105.0)
    assert fill.quantity == 3.0
    assert fill.price == pytest.approx(105.0 * (1 - slip / 1e4))
    assert fill.price < 105.0
    assert fill.fee_usd == pytest.approx(FEE_RATE * 3.0 * fill.price)


def test_sell_without_a_quantity_sells_the_notional_at_the_open():
    executor = _executor()
    executor.submit(_order(side=Side.SELL, notional=210.0))
    [fill] = executor.settle(tick=1, bars=BARS[1])
    assert fill.quantity == pytest.approx(2.0)


def test_orders_from_a_later_tick_wait_for_their_own_next_bar():
    executor = _executor()
    executor.submit(_order("a", tick=0))
    executor.submit(_order("b", tick=1))
    assert [f.decision_id for f in executor.settle(tick=1, bars=BARS[1])] == ["a"]
    [fill] = executor.settle(tick=2, bars=BARS[2])
    assert fill.decision_id == "b"
    assert fill.price == pytest.approx(98.0 * (1 + _slip(1_000, 98.0) / 1e4))


def test_a_second_order_for_the_same_decision_is_refused():
    executor = _executor()
    assert executor.submit(_order("dup", order_id="o1")) is True
    assert executor.submit(_order("dup", order_id="o2")) is False
    fills = executor.settle(tick=1, bars=BARS[1])
    assert [f.order_id for f in fills] == ["o1"]
    assert executor.submit(_order("dup", order_id="o3")) is False  # also after the fill
    assert executor.settle(tick=2, bars=BARS[2]) == []


def test_the_intent_is_in_the_database_before_settle(db_url):
    executor = _executor(db_url)
    order = _order("persist-me")
    assert executor.submit(order)
    store = OrderStore(make_engine(db_url))
    assert store.by_decision("persist-me") == (order, "intent", None)
    [fill] = executor.settle(tick=1, bars=BARS[1])
    assert store.by_decision("persist-me") == (order, "filled", fill)
    assert store.open_intents() == []


def test_exactly_once_survives_a_restart_on_the_same_database(db_url):
    first = _executor(db_url)
    assert first.submit(_order("d-1", order_id="o-first"))
    # the process dies before settling; a new executor opens the same file
    second = _executor(db_url)
    assert second.submit(_order("d-1", order_id="o-second")) is False
    assert second.settle(tick=1, bars=BARS[1]) == []
    assert second.health()["pending"] == 0
    store = OrderStore(make_engine(db_url))
    recorded, status, _ = store.by_decision("d-1")
    assert (recorded.order_id, status) == ("o-first", "intent")
    assert [o.order_id for o in store.open_intents()] == ["o-first"]


def test_exactly_once_survives_a_restart_after_the_fill(db_url):
    first = _executor(db_url)
    first.submit(_order("d-2"))
    first.settle(tick=1, bars=BARS[1])
    second = _executor(db_url)
    assert second.submit(_order("d-2", order_id="other")) is False
    assert second.submit(_order("d-3")) is True


def test_missing_bar_fails_the_order_and_records_it(db_url):
    executor = _executor(db_url)
    executor.submit(_order("no-bar"))
    with pytest.raises(ExecutionError, match="no bar for BTC at tick 1"):
        executor.settle(tick=1, bars={})
    _, status, fill = OrderStore(make_engine(db_url)).by_decision("no-bar")
    assert (status, fill) == ("failed", None)


def test_config_rejects_unknown_keys_and_absurd_fees():
    with pytest.raises(ValueError, match="fee_rat"):
        ExecutionConfig.model_validate({"fee_rat": 0.001})
    with pytest.raises(ValueError, match="fee_rate"):
        ExecutionConfig(fee_rate=0.5)


def test_slippage_is_modelled_on_the_volume_known_when_the_order_was_placed():
    """Regression (look-ahead): fills used the fill bar's whole volume, unknown at its open."""
    executor = _executor()
    placed_on = {"BTC": _bar(0, open_=100.0, close=101.0, volume=10.0)}
    fill_bar = {"BTC": _bar(1, open_=105.0, close=99.0, volume=1_000_000.0)}
    executor.settle(tick=0, bars=placed_on)
    executor.submit(_order(notional=1_000.0))
    (fill,) = executor.settle(tick=1, bars=fill_bar)
    assert fill.slippage_bps == pytest.approx(_slip(1_000.0, 105.0, volume=10.0))
    assert fill.slippage_bps != pytest.approx(_slip(1_000.0, 105.0, volume=1_000_000.0))


def test_orders_left_at_the_end_are_cancelled_and_recorded(db_url):
    from state.db import make_engine
    from state.orders import OrderStore

    executor = _executor(db_url)
    executor.submit(_order("run-000000-7"))
    (cancelled,) = executor.cancel_pending(reason="the run ended")
    assert cancelled.decision_id == "run-000000-7"
    assert executor.settle(tick=1, bars=BARS[1]) == []
    order, status, fill = OrderStore(make_engine(db_url)).by_decision("run-000000-7")
    assert status == "failed" and fill is None
