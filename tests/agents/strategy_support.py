"""Builders shared by the strategy plugin tests: hand-built snapshots and portfolios, and a
replay of a strategy over a price series through the real MarketIntel, ComputeAgent,
StrategyAgent and TreasuryAgent (proposals fill at the bar's close, no fee), for look-ahead tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from agents.compute import ComputeAgent
from agents.market_intel import MarketIntelAgent
from agents.strategy import StrategiesConfig, StrategyAgent
from agents.treasury import TreasuryAgent
from core.feeds.base import MarketData
from core.feeds.files import load_files
from core.models import (
    Bar,
    Deposit,
    Fill,
    MarketPhase,
    MarketSnapshot,
    PortfolioState,
    Position,
    Proposal,
    SentimentReading,
    Side,
    Swap,
    Withdraw,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def bar(asset: str = "BTC", price: float = 100.0) -> Bar:
    return Bar(asset=asset, ts=T0, open=price, high=price, low=price, close=price, volume=1e6)


def snapshot(
    *,
    prices: dict[str, float] | None = None,
    now: dict[str, dict[str, float | None]] | None = None,
    before: dict[str, dict[str, float | None]] | None = None,
    tick: int = 100,
    phase: MarketPhase = MarketPhase.UNKNOWN,
) -> MarketSnapshot:
    """A snapshot of ``prices`` (default BTC at 100) with the given indicators now and before."""
    prices = prices or {"BTC": 100.0}
    return MarketSnapshot(
        tick=tick,
        ts=T0 + timedelta(hours=tick),
        bars={asset: bar(asset, price) for asset, price in prices.items()},
        indicators=now or {},
        previous_indicators=before or {},
        phase=phase,
    )


def sentiment(*, mood: float = 50.0, tick: int = 100) -> SentimentReading:
    return SentimentReading(tick=tick, ts=T0, per_asset={}, mood=mood, items_scored=0)


def portfolio(
    *,
    cash: float = 100_000.0,
    held: dict[str, tuple[float, float]] | None = None,
    prices: dict[str, float] | None = None,
) -> PortfolioState:
    """Cash plus positions ``{asset: (quantity, average entry price)}`` marked at ``prices``."""
    held = held or {}
    return PortfolioState(
        tick=0,
        ts=T0,
        cash_usd=cash,
        positions={
            asset: Position(asset=asset, quantity=quantity, avg_entry_price=entry)
            for asset, (quantity, entry) in held.items()
        },
        prices=prices if prices is not None else {"BTC": 100.0},
        initial_equity_usd=100_000.0,
    )


def market(close: np.ndarray, assets: Sequence[str] = ("BTC",)) -> MarketData:
    """Hourly bars whose open is the previous close; ``close`` is (assets × bars)."""
    closes = np.atleast_2d(np.asarray(close, dtype=np.float64))
    opens = np.concatenate([closes[:, :1], closes[:, :-1]], axis=1)
    start_ns = int(T0.timestamp()) * 1_000_000_000
    return MarketData(
        assets=tuple(assets),
        timestamps=start_ns + np.arange(closes.shape[1], dtype=np.int64) * 3_600_000_000_000,
        open=opens,
        high=np.maximum(opens, closes) * 1.001,
        low=np.minimum(opens, closes) * 0.999,
        close=closes,
        volume=np.full_like(closes, 1e6),
    )


def real_market(bars: int) -> MarketData:
    """The first ``bars`` five-minute candles of ETH quoted in BTC, from the shared data."""
    data = load_files([SHARED_DATA / "ETH_BTC-5m.csv"])
    return MarketData(
        assets=data.assets, timestamps=data.timestamps[:bars], open=data.open[:, :bars],
        high=data.high[:, :bars], low=data.low[:, :bars], close=data.close[:, :bars],
        volume=data.volume[:, :bars], source=data.source, quote=data.quote,
    )


def rewritten_after(data: MarketData, tick: int, *, seed: int = 1) -> MarketData:
    """The same market up to and including ``tick``, a different random walk after it."""
    rng = np.random.default_rng(seed)
    shocks = np.exp(np.cumsum(rng.normal(0.0, 0.02, size=data.close[:, tick + 1 :].shape), axis=1))
    factor = np.concatenate([np.ones_like(data.close[:, : tick + 1]), shocks], axis=1)
    return MarketData(
        assets=data.assets, timestamps=data.timestamps, open=data.open * factor,
        high=data.high * factor * 1.01, low=data.low * factor * 0.99, close=data.close * factor,
        volume=data.volume, source=data.source, quote=data.quote,
    )


Decision = tuple[int, dict[str, Any], float, float | None, str, float]


def replay(
    data: MarketData,
    strategy: str,
    params: dict[str, Any] | None = None,
    *,
    ticks: int | None = None,
    cash: float = 100.0,
    mood: Callable[[int], float] = lambda tick: 50.0,
    compute: ComputeAgent | None = None,
) -> list[Decision]:
    """Run one strategy tick by tick; every proposal fills at that bar's close (deposits book the
    receipt asset at 1). Returns each proposal's tick, action, notional, quantity, rationale and
    confidence."""
    config = StrategiesConfig.model_validate({"enabled": [strategy], strategy: params or {}})
    agent = StrategyAgent(config, run_id="replay")
    intel = MarketIntelAgent(data, compute or ComputeAgent(), specs=agent.required_indicators())
    treasury = TreasuryAgent(cash_usd=cash, start=data.time(0))
    receipt = getattr(config.params(strategy), "receipt_asset", None)
    decisions: list[Decision] = []
    for tick in range(ticks if ticks is not None else data.n_bars):
        snap = intel.observe(tick)
        book = treasury.mark(tick=tick, ts=snap.ts,
                             prices={a: b.close for a, b in snap.bars.items()})
        reading = SentimentReading(tick=tick, ts=snap.ts, mood=mood(tick), items_scored=0)
        for proposal in agent.propose(snap, reading, book):
            decisions.append((tick, proposal.action.model_dump(), proposal.notional_usd,
                              proposal.quantity, proposal.rationale, proposal.confidence))
            fill = _fill_at_close(proposal, snap, treasury.portfolio(), receipt)
            if fill is not None:
                treasury.apply([fill])
    return decisions


def _fill_at_close(
    proposal: Proposal, snap: MarketSnapshot, book: PortfolioState, receipt: str | None
) -> Fill | None:
    action = proposal.action
    if isinstance(action, (Deposit, Withdraw)):
        asset, price = receipt or action.asset, 1.0
        side = Side.BUY if isinstance(action, Deposit) else Side.SELL
    else:
        assert isinstance(action, Swap)
        asset, price, side = proposal.asset, snap.price(proposal.asset), proposal.side
    if side is Side.BUY:
        quantity = min(proposal.notional_usd, book.cash_usd) / price
    else:
        quantity = min(proposal.quantity or proposal.notional_usd / price, book.quantity(asset))
    if quantity <= 0:
        return None
    return Fill(
        order_id=f"o-{proposal.decision_id}", decision_id=proposal.decision_id, tick=snap.tick,
        ts=snap.ts, asset=asset, side=side, quantity=quantity, price=price, fee_usd=0.0,
        slippage_bps=0.0,
    )


def assert_no_look_ahead(
    strategy: str, params: dict[str, Any], *, compute: ComputeAgent, bars: int = 900,
    cut: int = 600, min_before: int = 4, **replay_options: Any,
) -> list[Decision]:
    """Rewrite every bar after ``cut`` of the real candles: the decisions up to ``cut`` must stay
    identical and the later ones change. Returns the decisions up to ``cut``."""
    data = real_market(bars)
    seen = replay(data, strategy, params, compute=compute, **replay_options)
    other = replay(rewritten_after(data, cut), strategy, params, compute=compute, **replay_options)
    before = [d for d in seen if d[0] <= cut]
    assert len(before) >= min_before, "the test needs decisions before the cut to mean anything"
    assert [d for d in other if d[0] <= cut] == before
    assert other != seen, "rewriting the later bars should change the later decisions"
    return before
