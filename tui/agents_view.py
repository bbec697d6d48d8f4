"""What the Agents screen shows of each agent when no system is attached: its trail in the log.

Pure functions over decision-log entries: for each agent the latest entry it caused (its time
stands in for a heartbeat), what it did or proposed last, and the last error it left there; and
the last proposal of every strategy with the outcome of its decision. Restarts and latency need
a running system (tui/actors.py) and stay None here. Nothing here reads a database or a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from core.decision_trace import outcome
from core.models import DecisionLogEntry, Stage

AGENTS = ("market_intel", "sentiment", "strategy", "risk", "reviewer", "treasury", "executor",
          "compute")
"""The actor names core/wiring.py gives the agents, in the order a tick reaches them."""

_REVIEWS = frozenset({Stage.REVIEW_APPROVED, Stage.REVIEW_VETOED, Stage.REVIEW_ESCALATED})
_ORDERS = frozenset({Stage.ORDER_SUBMITTED, Stage.ORDER_FILLED, Stage.ORDER_FAILED,
                     Stage.ORDER_CANCELLED})


@dataclass(frozen=True)
class AgentRow:
    agent: str
    status: str = "log only"
    heartbeat: datetime | None = None
    restarts: int | None = None
    last_error: str | None = None
    latency_ms: float | None = None
    last: str = "n/a"
    """What it did or proposed last, from the decision log."""
    health: str = ""
    """Its own health() report, when attached."""


@dataclass(frozen=True)
class StrategyProposal:
    strategy: str
    decision_id: str
    proposal: str
    outcome: str
    at: datetime


def _money(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, (int, float)) else "n/a"


def _proposal_text(proposal: dict[str, Any]) -> str:
    action = proposal.get("action") or {}
    kind = action.get("kind")
    if kind == "swap":
        side, asset = ("sell", action["sell"]) if action.get("buy") == "USD" else \
            ("buy", action.get("buy"))
        return f"{side} {asset} {_money(proposal.get('notional_usd'))}"
    if kind in ("deposit", "withdraw"):
        return f"{kind} {action.get('asset')} {action.get('protocol')} " \
               f"{_money(proposal.get('notional_usd'))}"
    return f"{kind} {_money(proposal.get('notional_usd'))}"


def _market_intel(p: dict) -> str:
    snapshot = p.get("snapshot") or {}
    return f"snapshot of tick {snapshot.get('tick', '?')}, phase {snapshot.get('phase', 'n/a')}"


def _sentiment(p: dict) -> str:
    mood = p.get("mood")
    return f"fear/greed {mood:.0f}" if isinstance(mood, (int, float)) else "n/a"


def _strategy(p: dict) -> str:
    proposal = p.get("proposal") or {}
    return f"{proposal.get('strategy')}: {_proposal_text(proposal)} ({proposal.get('decision_id')})"


def _risk(p: dict) -> str:
    return f"sized {_money(p.get('sized_notional_usd'))} of {_money(p.get('requested_notional_usd'))}"


def _reviewer(p: dict) -> str:
    return f"{p.get('outcome')} ({p.get('reviewer')}) {p.get('decision_id')}"


def _treasury(p: dict) -> str:
    return f"equity {_money(p.get('equity_usd'))} at tick {p.get('tick')}"


def _executor(p: dict, stage: str) -> str:
    if stage == Stage.ORDER_FILLED:
        return (f"filled {p.get('side')} {p.get('asset')} {p.get('quantity', 0):.6g} @ "
                f"{_money(p.get('price'))} ({p.get('decision_id')})")
    order = p.get("order", p)
    return f"{stage}: {order.get('side')} {order.get('asset')} ({order.get('decision_id')})"


_TRAILS: dict[str, tuple[frozenset[str], Callable[[dict, str], str]]] = {
    "market_intel": (frozenset({Stage.PROPOSAL_CREATED}), lambda p, _: _market_intel(p)),
    "sentiment": (frozenset({Stage.PROPOSAL_CREATED}), lambda p, _: _sentiment(p)),
    "strategy": (frozenset({Stage.PROPOSAL_CREATED}), lambda p, _: _strategy(p)),
    "risk": (frozenset({Stage.RISK_ASSESSED}), lambda p, _: _risk(p)),
    "reviewer": (_REVIEWS, lambda p, _: _reviewer(p)),
    "treasury": (frozenset({Stage.PORTFOLIO_UPDATED}), lambda p, _: _treasury(p)),
    "executor": (_ORDERS, _executor),
}


def _error(agent: str, entry: DecisionLogEntry) -> str | None:
    payload = entry.payload
    if agent == "reviewer" and entry.stage in _REVIEWS and payload.get("error_class"):
        return f"{payload['error_class']} ({entry.decision_id})"
    if agent == "executor" and entry.stage == Stage.ORDER_FAILED:
        return f"{payload.get('error')} ({entry.decision_id})"
    if agent == "treasury" and entry.stage == Stage.TREASURY_MISMATCH:
        return "differs from the chain: " + "; ".join(payload.get("mismatches", ()))
    return None


def rows_from_log(entries: Iterable[DecisionLogEntry]) -> list[AgentRow]:
    """One row per agent: its latest entry's time, what it did then, its last logged error."""
    latest: dict[str, DecisionLogEntry] = {}
    errors: dict[str, str] = {}
    for entry in entries:
        if entry.stage == Stage.TREASURY_MISMATCH:  # an alert, not the treasury's own work
            errors["treasury"] = _error("treasury", entry) or ""
            continue
        for agent, (stages, _) in _TRAILS.items():
            if entry.stage in stages:
                latest[agent] = entry
                error = _error(agent, entry)
                if error is not None:
                    errors[agent] = error
    rows = []
    for agent in AGENTS:
        entry = latest.get(agent)
        if entry is None:
            rows.append(AgentRow(agent, last_error=errors.get(agent),
                                 last="n/a (leaves nothing in the log)" if agent == "compute"
                                 else "n/a (nothing logged yet)"))
            continue
        describe = _TRAILS[agent][1]
        rows.append(AgentRow(agent, heartbeat=entry.logged_at, last_error=errors.get(agent),
                             last=describe(entry.payload, entry.stage)))
    return rows


def last_proposals(entries: list[DecisionLogEntry]) -> list[StrategyProposal]:
    """The last proposal of each strategy, with what its decision came to."""
    by_decision: dict[str, list[DecisionLogEntry]] = {}
    last: dict[str, DecisionLogEntry] = {}
    for entry in entries:
        by_decision.setdefault(entry.decision_id, []).append(entry)
        if entry.stage == Stage.PROPOSAL_CREATED:
            last[(entry.payload.get("proposal") or {}).get("strategy", "?")] = entry
    return [
        StrategyProposal(strategy, entry.decision_id, _proposal_text(entry.payload["proposal"]),
                         outcome(by_decision[entry.decision_id]), entry.logged_at)
        for strategy, entry in sorted(last.items())
    ]


def merge(logged: list[AgentRow], live: dict[str, AgentRow]) -> list[AgentRow]:
    """The log's rows with what the running actors answered laid over them."""
    merged = []
    for row in logged:
        probe = live.get(row.agent)
        if probe is None:
            merged.append(row)
            continue
        merged.append(replace(row, status=probe.status, heartbeat=probe.heartbeat or row.heartbeat,
                              restarts=probe.restarts, latency_ms=probe.latency_ms,
                              last_error=probe.last_error or row.last_error, health=probe.health))
    return merged
