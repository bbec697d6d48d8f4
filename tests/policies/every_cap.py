"""The policy with every cap configured, random worlds to judge proposals in, and an oracle.

The oracle restates each cap independently of the rules (different formulations, e.g. the
stop-loss lock as "some 3 stop-outs within an hour, the last under 30 minutes ago"; tiers read
off the table, not through TiersConfig), so a bug in a rule cannot hide in its own check.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import timedelta

from hypothesis import strategies as st

from core.models import CASH, Deposit, Side, Swap, Tier, Withdraw
from policies.base import PolicyContext
from tests.policies.support import T0, context, sent, state, trade

ALLOWED_ASSETS = ("BTC", "ETH", "SOL", "USDC")
STABLE = ("USDC",)
PROTOCOLS = ("aave-v3",)
MAX_NOTIONAL, MIN_NOTIONAL = 250_000.0, 10.0
POSITION_SHARE, VOLATILE_SHARE = 0.5, 0.4
MAX_SLIPPAGE_BPS, HUMAN_SLIPPAGE_BPS = 100.0, 50.0
MIN_LIQUIDITY, VOLUME_SHARE = 50_000.0, 0.5
MAX_AGE_S, MAX_AHEAD_S = 600.0, 60.0
MAX_DRAWDOWN = 0.25
DAILY_LOSS_USD, DAILY_LOSS_SHARE = 3_000.0, 0.05
STOP_OUTS, STOP_WINDOW_S, STOP_LOCK_S = 3, 3_600.0, 1_800.0
COOLDOWN_S = 3_600.0
MAX_TRADES = 4

POLICY = f"""
version = "every-cap"
[tiers]
auto_max_usd = 10000
human_max_usd = 100000
quorum_max_usd = 500000
[rules.kill_switch]
[rules.stale_data]
max_age_s = {MAX_AGE_S}
max_ahead_s = {MAX_AHEAD_S}
[rules.asset_allowlist]
assets = {list(ALLOWED_ASSETS)}
[rules.protocol_allowlist]
protocols = {list(PROTOCOLS)}
[rules.max_drawdown]
max_drawdown_share = {MAX_DRAWDOWN}
[rules.daily_loss_limit]
max_loss_usd = {DAILY_LOSS_USD}
max_loss_share = {DAILY_LOSS_SHARE}
[rules.stoploss_guard]
trade_limit = {STOP_OUTS}
lookback_s = {STOP_WINDOW_S}
lock_s = {STOP_LOCK_S}
[rules.loss_cooldown]
cooldown_s = {COOLDOWN_S}
[rules.max_trades_per_hour]
max_trades = {MAX_TRADES}
[rules.max_slippage]
max_bps = {MAX_SLIPPAGE_BPS}
human_above_bps = {HUMAN_SLIPPAGE_BPS}
[rules.max_notional]
max_usd = {MAX_NOTIONAL}
[rules.max_position_share]
max_share = {POSITION_SHARE}
[rules.max_volatile_share]
max_share = {VOLATILE_SHARE}
stable_assets = {list(STABLE)}
[rules.min_liquidity]
min_usd = {MIN_LIQUIDITY}
max_volume_share = {VOLUME_SHARE}
[rules.min_notional]
min_usd = {MIN_NOTIONAL}
"""


LOCK_RULES = ("kill_switch", "stale_data", "max_drawdown", "daily_loss_limit", "stoploss_guard",
              "loss_cooldown", "max_trades_per_hour")


# -- what the world looks like -------------------------------------------------------------------

ASSETS = ("BTC", "ETH", "SOL", "DOGE", "USDC")


def _mostly(calm, wild):
    """Mostly ``calm`` values, sometimes ``wild`` ones: each cap is met on both sides."""
    return st.one_of(calm, calm, calm, calm, wild)


# Built once: a strategy made inside a composite is rebuilt (and re-validated) every example.
SEEDS = st.integers(0, 2**32 - 1)
PRICES = st.floats(0.5, 200)
CASH_USD = _mostly(st.floats(10_000, 2_000_000), st.floats(0, 10_000))
ONE_IN_FOUR, ONE_IN_TWELVE = st.integers(0, 3), st.integers(0, 11)
PEAK_RATIO = _mostly(st.floats(1, 1.2), st.floats(1, 2))
DAY_START_RATIO = st.floats(0.3, 1.5)
AWAITING = st.integers(0, 2)
AGE_S = _mostly(st.integers(-60, 600), st.integers(-200, 1_200))
VOLUME = _mostly(st.floats(1_000, 100_000), st.floats(0, 1_000))
KINDS = st.sampled_from(("buy", "buy", "buy", "sell", "sell", "deposit", "withdraw"))
PROPOSED_ASSETS = _mostly(st.sampled_from(ALLOWED_ASSETS), st.sampled_from(ASSETS))
PROTOCOL_NAMES = st.sampled_from(("aave-v3", "yolo-fi"))
NEAR_CAPS = st.sampled_from([cap * (1 + nudge) for cap in (MIN_NOTIONAL, 10_000, MAX_NOTIONAL)
                             for nudge in (-1e-3, -1e-9, 0.0, 1e-9, 1e-3)])
NOTIONALS = st.one_of(st.floats(0.01, 50), st.floats(10, 100_000), st.floats(10, 100_000),
                      st.floats(50_000, 1_000_000), NEAR_CAPS)
SLIPPAGE = _mostly(st.floats(0, 60), st.floats(0, 200))


EDGES_MIN = (STOP_LOCK_S / 60, COOLDOWN_S / 60, 12 * 60)  # lock, cooldown, midnight (now 12:00)


def _minutes_ago(rng: random.Random, *, edgy: bool) -> float:
    """When a past trade closed: often within the last 90 minutes, where the locks look, and
    often within minutes of an edge of a window, where off-by-a-little bugs live."""
    near_edge = rng.choice(EDGES_MIN) + rng.uniform(-8, 8)
    if edgy and rng.random() < 0.5:
        return near_edge
    return rng.choice([rng.randint(0, 90), rng.uniform(0, 90), rng.randint(0, 900), near_edge])


def _order_minutes(rng: random.Random, *, edgy: bool) -> list[float]:
    """When past orders were sent: edgy worlds send more, half of them about an hour ago."""
    count = rng.randint(0, 6 if edgy else 4)
    return [60 + rng.uniform(-8, 8) if edgy and rng.random() < 0.5 else rng.randint(0, 120)
            for _ in range(count)]


@st.composite
def worlds(draw, *, edgy: bool = False) -> dict:
    """A portfolio, market and history that proposals are judged in.

    The scalars that decide a cap are drawn one by one (hypothesis aims at their edges); the
    lists (holdings, reservations, trades, orders) come from one seeded generator, which keeps
    an example to a dozen draws so 12,000 proposals fit in the time budget. ``edgy`` worlds
    always have a few losing trades and orders, half of them near the edge of a window.
    """
    rng = random.Random(draw(SEEDS))
    focus = rng.choice(ALLOWED_ASSETS)  # most trades and proposals are about it
    price = draw(PRICES)
    prices = {a: 1.0 if a in STABLE else price * rng.uniform(0.5, 2) for a in ASSETS}
    holdings = {a: rng.uniform(0, 2_000) for a in rng.sample(ASSETS, rng.randint(0, 3))}
    cash = draw(CASH_USD)
    equity = cash + sum(q * prices[a] for a, q in holdings.items())
    losing = edgy or draw(ONE_IN_FOUR) == 0
    count = rng.randint(2, 6) if edgy else rng.randint(0, 5 if losing else 2)
    trades = [_trade(minutes=_minutes_ago(rng, edgy=edgy), pnl=rng.uniform(-3_000 if losing else -150, 1_000),
                     asset=focus if rng.random() < 0.7 else rng.choice(ALLOWED_ASSETS))
              for _ in range(count)]
    history = state(
        peak=equity * draw(PEAK_RATIO),
        day_start=equity * draw(DAY_START_RATIO),
        trades=sorted(trades, key=lambda t: t.closed_at),
        orders=[_sent(m) for m in sorted(_order_minutes(rng, edgy=edgy), reverse=True)],
        awaiting=draw(AWAITING),
        kill_switch=draw(ONE_IN_TWELVE) == 0,
    )
    return {
        "focus": focus, "cash": cash, "holdings": holdings, "prices": prices, "history": history,
        "reserved": {a: rng.uniform(0, 0.3 * max(equity, 1.0))
                     for a in rng.sample(ASSETS, rng.randint(0, 2))},
        "age_s": draw(AGE_S),
        "volume": draw(VOLUME),
    }


@st.composite
def proposals(draw, focus: str) -> dict:
    kind = draw(KINDS)
    asset = focus if draw(ONE_IN_FOUR) < 2 else draw(PROPOSED_ASSETS)
    action = {
        "buy": lambda: Swap(sell=CASH, buy=asset),
        "sell": lambda: Swap(sell=asset, buy=CASH),
        "deposit": lambda: Deposit(asset=asset, protocol=draw(PROTOCOL_NAMES)),
        "withdraw": lambda: Withdraw(asset=asset, protocol="aave-v3"),
    }[kind]()
    return {"action": action, "asset": asset, "notional": draw(NOTIONALS),
            "slippage_bps": draw(SLIPPAGE)}


def _trade(*, minutes: float, pnl: float, asset: str):
    return trade(minutes, pnl, asset=asset)


def _sent(minutes: float):
    return sent(minutes)


def build(world: dict, proposal: dict) -> PolicyContext:
    asset = proposal["asset"]
    return context(
        notional=proposal["notional"], asset=asset, action=proposal["action"],
        cash=world["cash"], holdings=world["holdings"], prices=world["prices"],
        reserved=world["reserved"], slippage_bps=proposal["slippage_bps"],
        volume=world["volume"], close=world["prices"][asset],
        snapshot_ts=T0 - timedelta(seconds=world["age_s"]), history=world["history"],
    )


def with_reservation(ctx: PolicyContext, first: PolicyContext, verdict) -> PolicyContext:
    """``ctx`` as the governor builds it once ``first`` was allowed: reserved and pending."""
    if not verdict.allowed:
        return ctx
    reserved = dict(ctx.reserved_usd_by_asset)
    if first.proposal.side is Side.BUY:
        asset = first.proposal.asset
        reserved[asset] = reserved.get(asset, 0.0) + verdict.notional_usd
    pending = ctx.history.model_copy(update={"awaiting_approval": ctx.history.awaiting_approval + 1})
    return dataclasses.replace(ctx, reserved_usd_by_asset=reserved, state=pending)


# -- the oracle ----------------------------------------------------------------------------------

def _over(value: float, cap: float) -> bool:
    """Clearly above ``cap`` (float rounding of an exact fit is not a breach)."""
    return value > cap + 1e-9 * max(1.0, abs(cap))


def _sells_all(ctx: PolicyContext, notional: float) -> bool:
    """A sale of all that is held of the asset, which min_notional lets through at any size."""
    p, held = ctx.proposal, ctx.portfolio.positions.get(ctx.proposal.asset)
    return (p.side is Side.SELL and p.quantity is not None and held is not None
            and p.quantity * min(1.0, notional / p.notional_usd) >= held.quantity > 0)


def broken_caps(ctx: PolicyContext, notional: float, tier: Tier) -> list[str]:
    """Every configured cap an allowed ``notional`` at ``tier`` would break, by name."""
    p, s = ctx.proposal, ctx.history
    broken = []
    if p.asset not in ALLOWED_ASSETS:
        broken.append("asset_allowlist")
    if isinstance(p.action, Deposit) and p.action.protocol not in PROTOCOLS:
        broken.append("protocol_allowlist")
    if _over(notional, MAX_NOTIONAL) or (notional < MIN_NOTIONAL and not _sells_all(ctx, notional)):
        broken.append("notional")
    if _over(notional, ctx.assessment.sized_notional_usd):
        broken.append("grew beyond the risk agent's size")
    if tier.rank < _least_tier(notional).rank or tier is Tier.DENY:
        broken.append("tier")
    age_s = (s.now - ctx.snapshot.ts).total_seconds()
    if age_s > MAX_AGE_S or age_s < -MAX_AHEAD_S:
        broken.append("stale_data")
    if isinstance(p.action, Swap):
        broken += _market_caps(ctx, notional, tier)
    if p.side is Side.BUY:
        broken += exposure_caps(ctx, {p.asset: notional})
    if not p.reduces_risk:
        broken += entry_locks(ctx, pending_extra=0)
    return broken


def _least_tier(notional: float) -> Tier:
    """The tier the policy's [tiers] table asks for at ``notional``, read off the table."""
    for tier, ceiling in ((Tier.AUTO, 10_000), (Tier.HUMAN, 100_000), (Tier.QUORUM, 500_000)):
        if notional <= ceiling:
            return tier
    return Tier.DENY


def _market_caps(ctx: PolicyContext, notional: float, tier: Tier) -> list[str]:
    broken = []
    bps, bar = ctx.assessment.expected_slippage_bps, ctx.snapshot.bars[ctx.proposal.asset]
    over_max = bps > MAX_SLIPPAGE_BPS * (1 + 1e-9)
    if over_max and not ctx.proposal.reduces_risk:
        broken.append("max_slippage")  # an entry beyond the limit: never
    elif (over_max or bps > HUMAN_SLIPPAGE_BPS * (1 + 1e-9)) and tier is Tier.AUTO:
        broken.append("max_slippage")  # an exit beyond it, or either between: a person decides
    traded = bar.volume * bar.close
    if traded <= 0 or traded < MIN_LIQUIDITY or _over(notional, VOLUME_SHARE * traded):
        broken.append("min_liquidity")
    return broken


def exposure_caps(ctx: PolicyContext, buys: dict[str, float]) -> list[str]:
    """Position and volatile shares with ``buys`` (asset -> notional) added to the book."""
    portfolio, broken = ctx.portfolio, []
    equity = portfolio.equity_usd

    def exposure(asset: str) -> float:
        return portfolio.position_value(asset) + ctx.reserved(asset) + buys.get(asset, 0.0)

    assets = set(portfolio.positions) | set(ctx.reserved_usd_by_asset) | set(buys)
    if any(_over(exposure(a), POSITION_SHARE * equity) for a in buys):
        broken.append("max_position_share")
    volatile = sum(exposure(a) for a in assets if a not in STABLE and a != CASH)
    if any(a not in STABLE for a in buys) and _over(volatile, VOLATILE_SHARE * equity):
        broken.append("max_volatile_share")
    return broken


def entry_locks(ctx: PolicyContext, *, pending_extra: int) -> list[str]:
    s, asset, broken = ctx.history, ctx.proposal.asset, []
    equity = ctx.portfolio.equity_usd
    peak = max(s.equity_peak_usd, equity)
    if s.kill_switch_engaged:
        broken.append("kill_switch")
    if peak <= 0 or equity / peak <= 1 - MAX_DRAWDOWN + 1e-12:
        broken.append("max_drawdown")
    midnight = s.now.replace(hour=0, minute=0, second=0, microsecond=0)
    lost_today = -sum(t.pnl_usd for t in s.closed_trades if t.closed_at >= midnight)
    if _over(lost_today, min(DAILY_LOSS_USD, DAILY_LOSS_SHARE * s.day_start_equity_usd)):
        broken.append("daily_loss_limit")
    stop_outs = [t.closed_at for t in s.closed_trades if t.pnl_usd < 0]
    for trio in itertools.combinations(stop_outs, STOP_OUTS):
        last, first = max(trio), min(trio)
        if (last - first).total_seconds() < STOP_WINDOW_S and \
                (s.now - last).total_seconds() < STOP_LOCK_S:
            broken.append("stoploss_guard")
            break
    if any(t.pnl_usd < 0 and t.asset == asset and (s.now - t.closed_at).total_seconds() < COOLDOWN_S
           for t in s.closed_trades):
        broken.append("loss_cooldown")
    in_hour = sum(1 for o in s.orders if (s.now - o.sent_at).total_seconds() <= 3_600)
    if in_hour + s.awaiting_approval + pending_extra >= MAX_TRADES:
        broken.append("max_trades_per_hour")
    return broken
