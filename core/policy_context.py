"""What the governor knows for the policy, and how a policy decision's context is logged.

PolicyHistory is the governor's memory for the rules: the equity peak, the equity the UTC day
started with, the trades closed and the orders sent within the policy's lookback. It turns that
into a frozen PolicyState each time the policy is asked. ``kill_switch_backstop`` is the
governor's own check over any policy's verdict. ``context_record`` is what the governor
logs beside each verdict, and ``context_from_log`` rebuilds a PolicyContext from a decision's
logged entries (for `quorum policy replay`), marking what an older log did not record as missing
instead of guessing it. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any, Protocol

from core.models import (
    Bar,
    MarketSnapshot,
    Order,
    PolicyVerdict,
    PortfolioState,
    Proposal,
    RiskAssessment,
    RuleFiring,
    Tier,
)
from policies.base import HISTORY, PORTFOLIO, PRICE, RESERVED, VOLUME, PolicyContext
from policies.state import ClosedTrade, PolicyState, SentOrder

if TYPE_CHECKING:
    from agents.treasury import OpenPosition


def bar_clock(snapshot: MarketSnapshot) -> datetime:
    """The policy's "now" when data is replayed (backtests, paper): the snapshot's bar time."""
    return snapshot.ts


class ClosedRoundTrip(Protocol):
    """What the treasury reports per exit (agents.treasury.Trade)."""

    asset: str
    exit_time: str
    entry_price: float
    size: float
    pnl: float


class PolicyHistory:
    """The trades, orders and equity marks the rules look back over, kept for one run."""

    def __init__(self, *, retained_s: float) -> None:
        self.retained_s = retained_s
        self.since: datetime | None = None
        self.now: datetime | None = None
        self.peak_usd = 0.0
        self.day: date | None = None
        self.day_start_usd = 0.0
        self.trades: deque[ClosedTrade] = deque()
        self.orders: deque[SentOrder] = deque()

    def observe(self, *, now: datetime, equity_usd: float) -> None:
        """A new tick: the policy clock reads ``now`` and equity is marked at ``equity_usd``."""
        if self.since is None:
            self.since = now
        self.now = now
        self.peak_usd = max(self.peak_usd, equity_usd)
        day = now.astimezone(UTC).date()
        if day != self.day:
            self.day, self.day_start_usd = day, equity_usd
        self._prune(now)

    def observe_span(self, *, times: Sequence[datetime], equity_usd: Sequence[float]) -> None:
        """``observe`` of each (time, equity) in order, in one pass: the same state after."""
        if not times:
            return
        if self.since is None:
            self.since = times[0]
        self.now = times[-1]
        self.peak_usd = max(self.peak_usd, max(equity_usd))
        day = times[-1].astimezone(UTC).date()
        if day != self.day:  # the last day's opening equity: its first bar in the run
            first = bisect_left(times, datetime.combine(day, dt_time(0), tzinfo=UTC))
            self.day, self.day_start_usd = day, equity_usd[first]
        self._prune(self.now)

    def record_closed(self, trades: Iterable[ClosedRoundTrip]) -> None:
        for trade in trades:
            self.trades.append(ClosedTrade(
                asset=trade.asset,
                closed_at=datetime.fromisoformat(trade.exit_time),
                pnl_usd=trade.pnl,
                cost_usd=trade.entry_price * trade.size,
            ))

    def record_order(self, order: Order) -> None:
        self.orders.append(SentOrder(asset=order.asset, side=order.side,
                                     notional_usd=order.notional_usd,
                                     sent_at=self.now or order.created_at))

    def state(self, *, kill_switch_engaged: bool, awaiting_approval: int) -> PolicyState:
        if self.now is None or self.since is None:
            raise RuntimeError("PolicyHistory.state before the first observe")
        return PolicyState(
            now=self.now,
            history_since=self.since,
            retained_s=self.retained_s,
            equity_peak_usd=self.peak_usd,
            day_start_equity_usd=self.day_start_usd,
            closed_trades=tuple(self.trades),
            orders=tuple(self.orders),
            awaiting_approval=awaiting_approval,
            kill_switch_engaged=kill_switch_engaged,
        )

    def _prune(self, now: datetime) -> None:
        cutoff = now.timestamp() - self.retained_s
        while self.trades and self.trades[0].closed_at.timestamp() < cutoff:
            self.trades.popleft()
        while self.orders and self.orders[0].sent_at.timestamp() < cutoff:
            self.orders.popleft()


def kill_switch_backstop(verdict: PolicyVerdict, context: PolicyContext) -> PolicyVerdict:
    """The governor's own kill switch over the policy's verdict: with the switch engaged, an
    entry is denied even by a policy that has no kill_switch rule."""
    state = context.state
    if state is None or not state.kill_switch_engaged or context.proposal.reduces_risk \
            or not verdict.allowed:
        return verdict
    return verdict.model_copy(update={
        "allowed": False,
        "tier": Tier.DENY,
        "fired": (*verdict.fired, RuleFiring(rule="kill_switch", effect="deny",
                                             reason="kill switch engaged: exits only")),
    })


def own_quantity(lots: Iterable[OpenPosition], proposal: Proposal) -> float:
    """How much of the proposal's asset its strategy's own lot holds, from the treasury's lots."""
    return sum((lot.quantity for lot in lots
                if lot.asset == proposal.asset and lot.strategy == proposal.strategy), 0.0)


def context_record(context: PolicyContext) -> dict[str, Any]:
    """What the governor logs beside a verdict: every part of the context a rule may read."""
    return {
        "portfolio": context.portfolio,
        "reserved_usd_by_asset": dict(context.reserved_usd_by_asset),
        "bar": context.bar(),
        "snapshot_tick": context.snapshot.tick,
        "snapshot_ts": context.snapshot.ts,
        "state": context.state,
        "own_quantity": context.own_quantity,
    }


def context_from_log(payloads: Mapping[str, Mapping[str, Any]]) -> PolicyContext:
    """The context a logged decision was judged in, from its payloads by stage name.

    Needs ProposalCreated and RiskAssessed; reads the policy stage's ``context`` when there is
    one. Whatever the log lacks is a placeholder named in ``missing``.
    """
    created = payloads["ProposalCreated"]
    proposal = Proposal.model_validate(created["proposal"])
    assessment = RiskAssessment.model_validate(payloads["RiskAssessed"])
    policy = payloads.get("PolicyAllowed") or payloads.get("PolicyDenied") or {}
    record = policy.get("context")
    if record is not None:
        return _full_context(proposal, assessment, record)
    return _partial_context(proposal, assessment, created.get("snapshot") or {})


def _full_context(proposal: Proposal, assessment: RiskAssessment,
                  record: Mapping[str, Any]) -> PolicyContext:
    bar = Bar.model_validate(record["bar"]) if record.get("bar") else None
    snapshot = MarketSnapshot(tick=record["snapshot_tick"], ts=record["snapshot_ts"],
                              bars={bar.asset: bar} if bar else {})
    state = PolicyState.model_validate(record["state"]) if record.get("state") else None
    return PolicyContext(
        proposal=proposal,
        assessment=assessment,
        portfolio=PortfolioState.model_validate(record["portfolio"]),
        snapshot=snapshot,
        reserved_usd_by_asset=dict(record.get("reserved_usd_by_asset") or {}),
        state=state,
        own_quantity=record.get("own_quantity"),  # logs before strategies' books: unknown
    )


def _partial_context(proposal: Proposal, assessment: RiskAssessment,
                     summary: Mapping[str, Any]) -> PolicyContext:
    """An older log: the proposal's snapshot summary (time, close) and nothing else."""
    ts = summary.get("ts") or proposal.ts
    close = summary.get("close")
    missing = {PORTFOLIO, RESERVED, HISTORY, VOLUME}
    bars = {}
    if close is not None:
        bars[proposal.asset] = Bar(asset=proposal.asset, ts=ts, open=close, high=close,
                                   low=close, close=close, volume=0.0)
    else:
        missing.add(PRICE)
    placeholder = PortfolioState(tick=proposal.tick, ts=ts, cash_usd=0.0, initial_equity_usd=0.0)
    return PolicyContext(
        proposal=proposal,
        assessment=assessment,
        portfolio=placeholder,
        snapshot=MarketSnapshot(tick=summary.get("tick", proposal.tick), ts=ts, bars=bars),
        reserved_usd_by_asset={},
        state=None,
        missing=frozenset(missing),
    )
