"""The risk agent: fixed-fraction entries, caps, exits sized to what is held, VaR and slippage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.risk import Z_95, RiskAgent, RiskConfig
from core.models import (
    CASH,
    Bar,
    MarketSnapshot,
    PortfolioState,
    Position,
    Proposal,
    Swap,
)
from core.slippage import SlippageModel

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PRICE = 100.0
VOLATILITY = 0.02


def _snapshot(*, volume: float = 1e9, volatility: float | None = VOLATILITY) -> MarketSnapshot:
    bar = Bar(asset="BTC", ts=T0, open=PRICE, high=PRICE, low=PRICE, close=PRICE, volume=volume)
    return MarketSnapshot(tick=3, ts=T0, bars={"BTC": bar}, volatility={"BTC": volatility})


def _portfolio(*, cash: float = 100_000.0, btc: float = 0.0) -> PortfolioState:
    positions = {"BTC": Position(asset="BTC", quantity=btc, avg_entry_price=PRICE)} if btc else {}
    return PortfolioState(
        tick=3,
        ts=T0,
        cash_usd=cash,
        positions=positions,
        prices={"BTC": PRICE},
        initial_equity_usd=100_000.0,
    )


def _buy(notional: float, decision_id: str = "d-buy") -> Proposal:
    return Proposal(
        decision_id=decision_id,
        tick=3,
        ts=T0,
        strategy="test",
        action=Swap(sell=CASH, buy="BTC"),
        notional_usd=notional,
        rationale="test",
        confidence=0.9,
    )


def _sell(notional: float, quantity: float | None = None) -> Proposal:
    return Proposal(
        decision_id="d-sell",
        tick=3,
        ts=T0,
        strategy="test",
        action=Swap(sell="BTC", buy=CASH),
        notional_usd=notional,
        rationale="test",
        confidence=0.9,
        quantity=quantity,
    )


def _agent(fraction: float = 0.1, max_share: float = 0.5) -> RiskAgent:
    return RiskAgent(
        RiskConfig(fraction=fraction, max_position_share=max_share),
        slippage=SlippageModel(),
        fee_rate=0.001,
    )


def test_entry_larger_than_the_fraction_is_sized_to_fraction_of_equity():
    assessment = _agent(fraction=0.1).assess(_buy(100_000), _snapshot(), _portfolio())
    assert assessment.decision_id == "d-buy"
    assert assessment.requested_notional_usd == 100_000
    assert assessment.sized_notional_usd == pytest.approx(10_000)
    assert assessment.position_share_after == pytest.approx(0.1)
    assert assessment.notes == ("sized down to 10,000.00 by fixed fraction 10% of equity",)


def test_fraction_uses_equity_including_positions_not_just_cash():
    # 50k cash + 300 BTC at 100 = 80k equity; 25% of it is 20k.
    portfolio = _portfolio(cash=50_000, btc=300)
    assessment = _agent(fraction=0.25, max_share=1.0).assess(_buy(40_000), _snapshot(), portfolio)
    assert assessment.sized_notional_usd == pytest.approx(20_000)


@pytest.mark.parametrize("requested", [0.01, 500.0, 9_999.99, 10_000.0])
def test_entry_is_never_larger_than_requested(requested):
    assessment = _agent().assess(_buy(requested), _snapshot(), _portfolio())
    assert assessment.sized_notional_usd == pytest.approx(requested)
    assert assessment.sized_notional_usd <= requested
    assert assessment.notes == ()


def test_cash_reserved_for_in_flight_buys_reduces_the_size():
    agent = _agent()
    assessment = agent.assess(_buy(50_000), _snapshot(), _portfolio(), reserved_usd=96_000)
    assert assessment.sized_notional_usd == pytest.approx(4_000)
    assert assessment.notes == ("sized down to 4,000.00 by cash not already reserved",)


def test_reservation_beyond_cash_sizes_an_entry_to_zero():
    assessment = _agent().assess(_buy(5_000), _snapshot(), _portfolio(), reserved_usd=150_000)
    assert assessment.sized_notional_usd == 0


def test_max_position_cap_limits_an_entry_to_the_room_left():
    # 45k already in BTC of 100k equity; max 50% leaves 5k, below the 10k fraction.
    portfolio = _portfolio(cash=55_000, btc=450)
    assessment = _agent(max_share=0.5).assess(_buy(20_000), _snapshot(), portfolio)
    assert assessment.sized_notional_usd == pytest.approx(5_000)
    assert assessment.position_share_after == pytest.approx(0.5)
    assert assessment.notes == ("sized down to 5,000.00 by max position 50% of equity",)


def test_a_position_at_the_cap_gets_no_entry():
    portfolio = _portfolio(cash=40_000, btc=600)  # 60% of equity in BTC
    assessment = _agent(max_share=0.5).assess(_buy(1_000), _snapshot(), portfolio)
    assert assessment.sized_notional_usd == 0
    assert assessment.notes == ("sized down to 0.00 by max position 50% of equity",)


def test_exit_larger_than_the_position_is_sized_to_the_position_held():
    portfolio = _portfolio(cash=99_000, btc=10)  # 1,000 of BTC
    assessment = _agent().assess(_sell(5_000), _snapshot(), portfolio)
    assert assessment.sized_notional_usd == pytest.approx(1_000)
    assert assessment.position_share_after == pytest.approx(0.0)
    assert assessment.var_95_usd == pytest.approx(0.0)
    assert assessment.notes == ("sized to the position held (1,000.00)",)


def test_exit_smaller_than_the_position_keeps_its_size_and_ignores_entry_caps():
    # an exit is not limited by the 10% fraction nor by reserved cash
    portfolio = _portfolio(cash=20_000, btc=800)  # 80k BTC, 100k equity
    assessment = _agent().assess(_sell(60_000), _snapshot(), portfolio)
    assert assessment.sized_notional_usd == pytest.approx(60_000)
    assert assessment.position_share_after == pytest.approx(0.2)
    assert assessment.notes == ()


def test_var_is_one_bar_95_percent_of_the_position_after_the_trade():
    portfolio = _portfolio(cash=90_000, btc=100)  # 10k held
    assessment = _agent().assess(_buy(5_000), _snapshot(), portfolio)
    assert assessment.volatility_per_bar == VOLATILITY
    assert assessment.var_95_usd == pytest.approx(Z_95 * VOLATILITY * 15_000)


def test_var_and_expected_slippage_grow_with_size():
    agent = _agent(fraction=1.0, max_share=1.0)
    snapshot = _snapshot(volume=1_000)  # thin bar: size moves the slippage model
    sizes = [100.0, 1_000.0, 10_000.0, 50_000.0]
    assessments = [agent.assess(_buy(size), snapshot, _portfolio()) for size in sizes]
    vars_ = [a.var_95_usd for a in assessments]
    slips = [a.expected_slippage_bps for a in assessments]
    assert vars_ == sorted(vars_) and len(set(vars_)) == len(vars_)
    assert slips == sorted(slips) and len(set(slips)) == len(slips)
    for size, assessment in zip(sizes, assessments):
        assert assessment.expected_slippage_bps == pytest.approx(
            2.0 + 100.0 * (size / PRICE) / 1_000
        )


def test_missing_volatility_gives_zero_var():
    assessment = _agent().assess(_buy(1_000), _snapshot(volatility=None), _portfolio())
    assert assessment.volatility_per_bar == 0
    assert assessment.var_95_usd == 0


def test_assess_counts_in_health():
    agent = _agent()
    agent.assess(_buy(1), _snapshot(), _portfolio())
    agent.assess(_buy(2, "d2"), _snapshot(), _portfolio())
    assert agent.health() == {"assessed": 2}
