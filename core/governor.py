"""The governor: runs the tick in DESIGN.md's order, owns the kill switch
(core/governor_switch.py) and keeps the run's books (core/governor_books.py).

observe → settle fills → apply → sentiment → propose → assess → policy → review → human gate →
execute, with every stage of every decision appended to the decision log, and the log flushed at
the end of every tick so a crash loses at most the tick in progress. It talks to agents only
through a Runtime, so the same governor drives plain objects and Ray actors. The policy sees
a PolicyState built from what the governor already knows (core/policy_context.py), and every
verdict is logged with the context it was judged in, so `quorum policy replay` can judge it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.gate import final_tier
from core.governor_books import RunBooks
from core.governor_switch import KillSwitchControl
from core.human_gate import HumanGate
from core.log_payloads import portfolio_summary, request_summary, snapshot_summary
from core.logging import get_logger
from core.models import (
    ApprovalStatus,
    Fill,
    MarketSnapshot,
    Order,
    PolicyVerdict,
    PortfolioState,
    Proposal,
    ReviewOutcome,
    SentimentReading,
    Side,
    Stage,
    Tier,
)
from core.policy_context import (
    PolicyHistory,
    bar_clock,
    context_record,
    kill_switch_backstop,
    own_quantity,
)
from core.run_state import RunState
from core.wiring import Runtime, Venue
from policies.base import PolicyContext
from policies.engine import PolicyEngine, unexecutable
from state.decision_log import DecisionLog
from state.kill_switch import KillSwitchBoard

if TYPE_CHECKING:
    from agents.treasury import OpenPosition

log = get_logger("quorum.governor")

REVIEW_STAGE = {
    ReviewOutcome.APPROVE: Stage.REVIEW_APPROVED,
    ReviewOutcome.VETO: Stage.REVIEW_VETOED,
    ReviewOutcome.ESCALATE: Stage.REVIEW_ESCALATED,
}
APPROVAL_STAGE = {
    ApprovalStatus.APPROVED: Stage.APPROVAL_GRANTED,
    ApprovalStatus.REJECTED: Stage.APPROVAL_REJECTED,
    ApprovalStatus.EXPIRED: Stage.APPROVAL_EXPIRED,
}


class Governor(KillSwitchControl, RunBooks):
    def __init__(
        self,
        *,
        runtime: Runtime,
        policy: PolicyEngine,
        decision_log: DecisionLog,
        human_gate: HumanGate,
        run_id: str,
        mode: str = "paper",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        policy_clock: Callable[[MarketSnapshot], datetime] = bar_clock,  # "now" for the policy
        kill_switch: KillSwitchBoard | None = None,  # the shared switch other channels flip
        venue: Venue | None = None,  # a chain run's: block time and pool prices per bar
        lendable: frozenset[str] = frozenset(),  # receipt assets the executor can lend into
        stale_after_s: float | None = None,  # live: a bar older than this (by clock) is not traded
    ) -> None:
        self.rt = runtime
        self.venue = venue
        self.lendable = lendable
        self.stale_after_s = stale_after_s
        self.policy = policy
        self.log = decision_log
        self.gate = human_gate
        self.run_id = run_id
        self.mode = mode
        self.clock = clock
        self.policy_clock = policy_clock
        self.history = PolicyHistory(retained_s=policy.lookback_s)
        self.state = RunState()
        self.kill_switch_engaged = False
        self.switch_board, self._switch_seen = kill_switch, 0
        latest = kill_switch.latest() if kill_switch is not None else None
        if latest is not None:  # a run started while the switch is engaged starts engaged
            self._apply_switch(latest)

    # -- the tick ---------------------------------------------------------------------------

    def step(self, tick: int, *, quiet: Callable[[PortfolioState], bool] | None = None
             ) -> PortfolioState:
        """Run one whole tick; the decision log is flushed before this returns.

        ``quiet(portfolio)`` true after settling: no strategy can propose on this bar (a bar a
        backtest wakes only to fill an order: core/event_loop.py), so none is asked."""
        try:
            for command in self.switch_board.since(self._switch_seen) if self.switch_board else ():
                self._apply_switch(command)
            snapshot: MarketSnapshot = self.rt.call("market_intel", "observe", tick)
            if self.venue is not None:
                self.venue.before_settle(snapshot)
            portfolio = self._settle(snapshot)
            if self.mode != "paper":
                self._reconcile(portfolio)
            self.history.observe(now=self.policy_clock(snapshot), equity_usd=portfolio.equity_usd)
            if not (quiet is not None and quiet(portfolio)) and not self._stale(snapshot):
                sentiment: SentimentReading = self.rt.call(
                    "sentiment", "score", tick=tick, ts=snapshot.ts
                )
                positions = self.rt.call("treasury", "open_positions")  # exits (agents/exits.py)
                proposals: list[Proposal] = self.rt.call(
                    "strategy", "propose", snapshot, sentiment, portfolio, positions=positions
                )
                for proposal in proposals:
                    self._decide(proposal, snapshot, sentiment, portfolio, positions)
            self._human_gate(portfolio)
        finally:
            self.log.flush()
        self._end_tick(snapshot.ts, portfolio)
        return portfolio

    def _stale(self, snapshot: MarketSnapshot) -> bool:
        """A live bar the pipeline reached too late to act on (it fell behind the feed): it is
        settled and marked, but no strategy proposes on prices that old. Logged."""
        if self.stale_after_s is None:
            return False
        age_s = (self.clock() - snapshot.ts).total_seconds()
        if age_s <= self.stale_after_s:
            return False
        log.warning("governor.stale_bar", tick=snapshot.tick, age_s=round(age_s, 3),
                    limit_s=self.stale_after_s)
        self.log.append(f"run-{self.run_id}", "StaleBarSkipped", {
            "tick": snapshot.tick, "bar_ts": snapshot.ts, "age_s": age_s,
            "limit_s": self.stale_after_s})
        return True

    def run(
        self,
        ticks: Iterable[int],
        *,
        interval_s: float = 0.0,
        should_stop: Callable[[], bool] = lambda: False,
        on_tick: Callable[[int, PortfolioState], None] | None = None,
    ) -> None:
        """Step through ``ticks``; stops between ticks when ``should_stop()`` turns true."""
        for tick in ticks:
            if should_stop():
                log.info("governor.stopping", run_id=self.run_id, tick=tick)
                break
            started = time.monotonic()
            portfolio = self.step(tick)
            if on_tick:
                on_tick(tick, portfolio)
            if interval_s > 0:
                time.sleep(max(0.0, interval_s - (time.monotonic() - started)))

    def _settle(self, snapshot: MarketSnapshot) -> PortfolioState:
        """Fill orders from earlier ticks at this bar's open, then mark to this bar's close."""
        fills = self.rt.call("executor", "settle", tick=snapshot.tick, bars=snapshot.bars)
        if fills:
            self.rt.call("treasury", "apply", fills)
            self._record_closed(fills)
            self.state.fills += fills
        for fill in fills:
            self.state.in_flight.pop(fill.decision_id, None)
            self._record(fill.decision_id, Stage.ORDER_FILLED, fill, outcome="filled")
            log.info(
                "executor.order_filled",
                decision_id=fill.decision_id,
                asset=fill.asset,
                side=fill.side.value,
                quantity=fill.quantity,
                price=fill.price,
            )
        portfolio = self.rt.call("treasury", "mark", tick=snapshot.tick, ts=snapshot.ts,
                                 prices=self._with_receipts(snapshot.closes(), snapshot.ts, fills))
        for fill in fills:
            self._record(fill.decision_id, Stage.PORTFOLIO_UPDATED, portfolio_summary(portfolio))
        return portfolio

    def _decide(
        self,
        proposal: Proposal,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
        lots: list[OpenPosition],
    ) -> None:
        decision_id = proposal.decision_id
        self._record(
            decision_id,
            Stage.PROPOSAL_CREATED,
            {"proposal": proposal, "snapshot": snapshot_summary(snapshot, proposal.asset),
             "mood": sentiment.mood},
            outcome="proposed",
        )
        refused = unexecutable(proposal, policy_version=self.policy.version, mode=self.mode,
                               lendable=self.lendable)
        if refused is not None:  # never turn a deposit or withdrawal into a trade
            self._record(decision_id, Stage.POLICY_DENIED, refused, outcome="denied")
            self.state.denied_by_rule["executable"] += 1
            return
        reserved = self.state.reserved_by_asset()
        assessment = self.rt.call(
            "risk", "assess", proposal, snapshot, portfolio, reserved_usd=sum(reserved.values())
        )
        self._record(decision_id, Stage.RISK_ASSESSED, assessment)
        context = PolicyContext(
            proposal=proposal, assessment=assessment, portfolio=portfolio, snapshot=snapshot,
            reserved_usd_by_asset=reserved,
            state=self.history.state(kill_switch_engaged=self.kill_switch_engaged,
                                     awaiting_approval=len(self.state.awaiting)),
            own_quantity=own_quantity(lots, proposal),
        )
        verdict = kill_switch_backstop(self.policy.evaluate(context), context)
        logged = {**verdict.model_dump(mode="json"), "context": context_record(context)}
        if not verdict.allowed:
            self._record(decision_id, Stage.POLICY_DENIED, logged, outcome="denied")
            rules = [f.rule for f in verdict.fired if f.effect == "deny"]
            self.state.denied_by_rule.update(rules)
            log.info("policy.denied", decision_id=decision_id, rules=rules)
            return
        self._record(decision_id, Stage.POLICY_ALLOWED, logged)
        review = self.rt.call(
            "reviewer",
            "review",
            proposal=proposal,
            assessment=assessment,
            verdict=verdict,
            snapshot=snapshot,
            sentiment=sentiment,
            portfolio=portfolio,
        )
        tier = final_tier(verdict, review)
        self._record(
            decision_id, REVIEW_STAGE[review.outcome], review,
            outcome="vetoed" if tier is Tier.DENY else None,
        )
        if tier is Tier.DENY:
            return
        order = self._order(proposal, verdict, snapshot)
        if tier is Tier.AUTO:
            self._submit(order, portfolio)
            return
        request = self.gate.request(
            order,
            tier=tier,
            required_approvals=self.policy.tiers.required_approvals(tier),
            expiry_s=self.policy.tiers.approval_expiry_s,
        )
        self.state.awaiting[request.request_id] = order
        self._record(
            decision_id, Stage.APPROVAL_REQUESTED, request_summary(request, self.gate.simulated),
            outcome="awaiting_approval",
        )
        log.info("approval.requested", decision_id=decision_id, request_id=request.request_id,
                 tier=tier.value, notional_usd=order.notional_usd)

    def _human_gate(self, portfolio: PortfolioState) -> None:
        for request in self.gate.poll(self.state.awaiting):
            order = self.state.awaiting.pop(request.request_id)
            stage = APPROVAL_STAGE[request.status]
            outcome = {Stage.APPROVAL_GRANTED: "approved", Stage.APPROVAL_REJECTED: "rejected",
                       Stage.APPROVAL_EXPIRED: "expired"}[stage]
            self._record(request.decision_id, stage,
                         request_summary(request, self.gate.simulated), outcome=outcome)
            if request.status is ApprovalStatus.APPROVED:
                self._submit(order, portfolio)  # exactly the order approved (payload-bound)

    def end_run(self) -> None:
        """Close what the run leaves open: undecided requests are rejected, unfilled orders
        cancelled (there is no next bar to fill them at). Both logged."""
        reason = "the run ended before anyone decided"
        for request in self.gate.cancel(list(self.state.awaiting), reason=reason):
            self.state.awaiting.pop(request.request_id, None)
            self._record(request.decision_id, APPROVAL_STAGE[request.status],
                         request_summary(request, self.gate.simulated),
                         outcome=request.status.value)
        for order in self.rt.call("executor", "cancel_pending",
                                  reason="the run ended before the next bar opened"):
            self.state.in_flight.pop(order.decision_id, None)
            self._record(order.decision_id, Stage.ORDER_CANCELLED,
                         {"order": order, "reason": "the run ended before the next bar opened"},
                         outcome="cancelled")
        self.log.flush()

    def _submit(self, order: Order, portfolio: PortfolioState) -> None:
        problem = self.state.refusal(order, portfolio,
                                     kill_switch_engaged=self.kill_switch_engaged)
        if problem:
            self._record(order.decision_id, Stage.ORDER_FAILED,
                         {"order": order, "error": problem}, outcome="failed")
            log.warning("executor.order_refused", decision_id=order.decision_id, error=problem)
            return
        accepted = self.rt.call("executor", "submit", order)
        if not accepted:
            self._record(order.decision_id, Stage.ORDER_FAILED,
                         {"order": order, "error": "an order for this decision exists already"},
                         outcome="failed")
            return
        self.state.in_flight[order.decision_id] = order
        self.history.record_order(order)
        self._record(order.decision_id, Stage.ORDER_SUBMITTED, order, outcome="submitted")

    # -- helpers ----------------------------------------------------------------------------

    def _order(self, proposal: Proposal, verdict: PolicyVerdict, snapshot: MarketSnapshot) -> Order:
        quantity = proposal.quantity
        if quantity is not None and verdict.notional_usd < proposal.notional_usd:
            quantity *= verdict.notional_usd / proposal.notional_usd
        return Order(
            order_id=f"o-{proposal.decision_id}",
            decision_id=proposal.decision_id,
            tick=snapshot.tick,
            created_at=self.clock(),
            asset=proposal.asset,
            side=proposal.side or Side.BUY,
            notional_usd=verdict.notional_usd,
            quantity=quantity,
            mode=self.mode,
            strategy=proposal.strategy,
        )

    def _record_closed(self, fills: list[Fill]) -> None:
        """Tell the policy's history about the round trips these fills closed (a sale closes
        one on each lot it takes from)."""
        if any(fill.side is Side.SELL for fill in fills):
            closed = self.rt.call("treasury", "closed_trades", since=self.state.trades_seen)
            self.state.trades_seen += len(closed)
            self.history.record_closed(closed)

    def _record(self, decision_id: str, stage: Stage, payload: Any, *, outcome: str | None = None) -> None:
        name = stage.value
        self.log.append(decision_id, name, payload)
        self.state.stages[name] += 1
        if outcome is not None:
            self.state.outcomes[decision_id] = outcome
