"""Builders for policy tests: a context around one proposal, a history, a policy file, a run."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.governor import Governor
from core.human_gate import SimulatedGate
from core.models import (
    CASH,
    Action,
    Bar,
    MarketSnapshot,
    PortfolioState,
    Position,
    Proposal,
    RiskAssessment,
    Side,
    Swap,
)
from core.runtime import LocalRuntime
from core.wiring import build_specs
from policies.base import PolicyContext
from policies.engine import PolicyEngine
from policies.state import ClosedTrade, PolicyState, SentOrder
from state.db import make_engine
from state.decision_log import DecisionLog
from tests.integration.support import market, settings

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
PRICE = 100.0

TIERS = """
version = "t"
[tiers]
auto_max_usd = 10000
human_max_usd = 100000
quorum_max_usd = 500000
"""


def state(
    *,
    now: datetime = T0,
    peak: float = 0.0,
    day_start: float = 1_000_000.0,
    trades: Iterable[ClosedTrade] = (),
    orders: Iterable[SentOrder] = (),
    awaiting: int = 0,
    kill_switch: bool = False,
    retained_s: float = 2 * 86_400.0,
    since: datetime | None = None,
) -> PolicyState:
    return PolicyState(
        now=now,
        history_since=since or now - timedelta(days=30),
        retained_s=retained_s,
        equity_peak_usd=peak,
        day_start_equity_usd=day_start,
        closed_trades=tuple(trades),
        orders=tuple(orders),
        awaiting_approval=awaiting,
        kill_switch_engaged=kill_switch,
    )


def trade(minutes_ago: float, pnl: float, *, asset: str = "BTC", cost: float = 10_000.0,
          now: datetime = T0) -> ClosedTrade:
    return ClosedTrade(asset=asset, closed_at=now - timedelta(minutes=minutes_ago),
                       pnl_usd=pnl, cost_usd=cost)


def sent(minutes_ago: float, *, asset: str = "BTC", side: Side = Side.BUY,
         now: datetime = T0) -> SentOrder:
    return SentOrder(asset=asset, side=side, notional_usd=1_000.0,
                     sent_at=now - timedelta(minutes=minutes_ago))


def context(
    *,
    notional: float,
    asset: str = "BTC",
    sell: bool = False,
    action: Action | None = None,
    cash: float = 1_000_000.0,
    holdings: dict[str, float] | None = None,
    prices: dict[str, float] | None = None,
    reserved: dict[str, float] | None = None,
    slippage_bps: float = 2.0,
    volume: float = 1e6,
    close: float = PRICE,
    snapshot_ts: datetime = T0,
    history: PolicyState | None = None,
    with_history: bool = True,
) -> PolicyContext:
    """A proposal of ``notional`` (buy by default) in a portfolio of cash and ``holdings``."""
    holdings = holdings or {}
    if action is None:
        action = Swap(sell=asset, buy=CASH) if sell else Swap(sell=CASH, buy=asset)
    proposal = Proposal(decision_id="d-1", tick=1, ts=snapshot_ts, strategy="test", action=action,
                        notional_usd=notional, rationale="test", confidence=0.9)
    assessment = RiskAssessment(
        decision_id="d-1", requested_notional_usd=notional, sized_notional_usd=notional,
        position_share_after=0.0, volatility_per_bar=0.01, var_95_usd=0.0,
        expected_slippage_bps=slippage_bps,
    )
    portfolio = PortfolioState(
        tick=1, ts=snapshot_ts, cash_usd=cash,
        positions={a: Position(asset=a, quantity=q, avg_entry_price=PRICE)
                   for a, q in holdings.items()},
        prices=prices if prices is not None else {a: PRICE for a in holdings},
        initial_equity_usd=cash,
    )
    bars = {}
    if proposal.asset != CASH:
        bars[proposal.asset] = Bar(asset=proposal.asset, ts=snapshot_ts, open=close, high=close,
                                   low=close, close=close, volume=volume)
    if with_history and history is None:
        history = state(day_start=portfolio.equity_usd)
    return PolicyContext(
        proposal=proposal, assessment=assessment, portfolio=portfolio,
        snapshot=MarketSnapshot(tick=1, ts=snapshot_ts, bars=bars),
        reserved_usd_by_asset=reserved or {},
        state=history if with_history else None,
    )


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def engine_with(tmp_path: Path, rules: str) -> PolicyEngine:
    """An engine with the test tiers and the given ``[rules.*]`` tables."""
    return PolicyEngine.load(write(tmp_path, TIERS + rules))


def fired(verdict) -> list[tuple[str, str]]:
    return [(f.rule, f.effect) for f in verdict.fired]


SHIPPED_RULES = [
    "kill_switch", "stale_data", "asset_allowlist", "protocol_allowlist", "max_drawdown",
    "daily_loss_limit", "stoploss_guard", "loss_cooldown", "max_trades_per_hour", "max_slippage",
    "max_notional", "max_position_share", "max_volatile_share", "min_liquidity", "min_notional",
]

BASE = """
version = "run"
[tiers]
auto_max_usd = {auto_max}
human_max_usd = 100000
quorum_max_usd = 500000
[rules.asset_allowlist]
assets = ["BTC", "ETH"]
[rules.max_position_share]
max_share = 0.5
[rules.min_notional]
min_usd = 10
"""


def run_system(tmp_path, db_url, *, rules: str = "", auto_max: float = 100_000, bars: int = 300,
               gate=None, policy_clock=None):
    """A BTC/ETH sma_cross system on the local runtime under BASE plus ``rules``: not yet run."""
    policy_path = write(tmp_path, BASE.format(auto_max=auto_max) + rules)
    s = settings(policy=policy_path, assets=("BTC", "ETH"))
    engine = make_engine(db_url)
    runtime = LocalRuntime(build_specs(s, data=market(s, bars=bars), db_url=db_url, run_id="p"))
    extra = {"policy_clock": policy_clock} if policy_clock else {}
    governor = Governor(runtime=runtime, policy=PolicyEngine.load(policy_path),
                        decision_log=DecisionLog(engine),
                        human_gate=gate or SimulatedGate(approve=True), run_id="p", **extra)
    return governor, engine, runtime


def by_decision(engine) -> dict[str, dict[str, dict]]:
    """The log's payloads by decision id, then by stage."""
    decisions: dict[str, dict[str, dict]] = {}
    for entry in DecisionLog(engine).entries():
        decisions.setdefault(entry.decision_id, {})[entry.stage] = entry.payload
    return decisions
