"""The dashboard's allocation with a lending base layer: the receipt token's value is the base
yield layer, held against the config's base share; tactical targets are those last stated."""

from __future__ import annotations

from datetime import UTC, datetime

from agents.strategies.treasury_regime import TreasuryRegimeConfig
from core.models import PortfolioState, Position
from tui.portfolio import DashboardView, allocation

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_lending_base_layer_is_the_receipt_tokens_value_against_the_base_share():
    portfolio = PortfolioState(
        tick=5, ts=T0, cash_usd=20_000, initial_equity_usd=100_000,
        positions={"AUSDC": Position(asset="AUSDC", quantity=55_000, avg_entry_price=1.0),
                   "BTC": Position(asset="BTC", quantity=0.5, avg_entry_price=40_000)},
        prices={"AUSDC": 1.0, "BTC": 50_000},
    )
    view = DashboardView(portfolio=portfolio, targets={"BTC": 0.3, "ETH": 0.1, "USDC": 0.6})
    layers, holdings = allocation(view, TreasuryRegimeConfig(base_layer="lending"))
    assert [(h.name, h.value_usd, h.target_share) for h in layers] == [
        ("base yield", 55_000, 0.6), ("tactical", 25_000, 0.4), ("cash", 20_000, 0.0)]
    assert [(h.name, h.layer, h.value_usd, h.target_share) for h in holdings] == [
        ("aave-v3 (AUSDC)", "base yield", 55_000, 0.6), ("BTC", "tactical", 25_000, 0.3),
        ("ETH", "tactical", 0.0, 0.1), ("cash (USD)", "cash", 20_000, 0.0)]
    assert [round(h.share, 4) for h in holdings] == [0.55, 0.25, 0.0, 0.2]


def test_without_the_regime_strategy_there_are_no_targets():
    portfolio = PortfolioState(tick=1, ts=T0, cash_usd=1_000, initial_equity_usd=1_000)
    layers, holdings = allocation(DashboardView(portfolio=portfolio), None)
    assert [(h.name, h.target_share) for h in layers] == [("tactical", None), ("cash", None)]
    assert [(h.name, h.share) for h in holdings] == [("cash (USD)", 1.0)]
