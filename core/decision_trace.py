"""One decision's log entries as lines a person reads: what `quorum decisions` prints.

Pure functions from DecisionLogEntry lists to text, in the order the entries were logged. A
payload of an unexpected shape (an older version's, another writer's) is shown key by key,
never dropped and never an error. Nothing here reads the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from core.models import DecisionLogEntry, Stage

OUTCOME_OF_STAGE = {
    Stage.PROPOSAL_CREATED: "proposed",
    Stage.POLICY_DENIED: "denied by policy",
    Stage.REVIEW_VETOED: "vetoed by the reviewer",
    Stage.APPROVAL_REQUESTED: "awaiting approval",
    Stage.APPROVAL_GRANTED: "approved",
    Stage.APPROVAL_REJECTED: "rejected",
    Stage.APPROVAL_EXPIRED: "expired",
    Stage.ORDER_SUBMITTED: "submitted",
    Stage.ORDER_FILLED: "filled",
    Stage.ORDER_FAILED: "failed",
    Stage.ORDER_CANCELLED: "cancelled",
}
"""What the decision came to when this stage is the last of these it reached."""
_LABEL = 11  # width of the label column


def outcome(entries: Iterable[DecisionLogEntry]) -> str:
    """The decision's outcome so far, from the last stage that settles one."""
    reached = [OUTCOME_OF_STAGE[e.stage] for e in entries if e.stage in OUTCOME_OF_STAGE]
    return reached[-1] if reached else "no outcome"


def trace_lines(entries: list[DecisionLogEntry]) -> list[str]:
    """The whole trace: a header, every entry with its details, the outcome."""
    first, last = entries[0], entries[-1]
    lines = [
        f"decision {first.decision_id}: {outcome(entries)}",
        (f"  {len(entries)} log entries, #{first.index}..#{last.index}, "
         f"{_when(first)} → {_when(last)}"),
    ]
    for entry in entries:
        lines.append("")
        lines.append(f"#{entry.index} {entry.stage}  {_when(entry)}")
        lines.extend(f"  {line}" for line in _details(entry))
    lines.extend(["", f"outcome: {outcome(entries)}"])
    return lines


def summary_line(entries: list[DecisionLogEntry]) -> str:
    """One line per decision for `quorum decisions list`."""
    first = entries[0]
    proposal = first.payload.get("proposal") if first.stage == Stage.PROPOSAL_CREATED else None
    what = _proposal_short(proposal) if isinstance(proposal, dict) else first.stage
    return (f"{first.decision_id:<24} {_when(first)}  {what:<28} {outcome(entries):<22} "
            f"{len(entries)} entries")


def _when(entry: DecisionLogEntry) -> str:
    return f"{entry.logged_at:%Y-%m-%d %H:%M:%S}Z"


def _details(entry: DecisionLogEntry) -> list[str]:
    render = _RENDERERS.get(entry.stage)
    if render is not None:
        try:
            return render(entry.payload)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # a payload of another shape: shown as it is, below
    return _generic(entry.payload)


def _row(label: str, text: str) -> str:
    return f"{label:<{_LABEL - 1}} {text}"


def _num(value: Any) -> str:
    """Amounts readable whatever the quote currency: 12,345.67 or 0.0964392."""
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"
    return str(value)


def _generic(payload: dict[str, Any]) -> list[str]:
    return [_row(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
            for key, value in payload.items()]


def _proposal_short(proposal: dict[str, Any]) -> str:
    action = proposal.get("action") or {}
    if action.get("kind") == "swap":
        side, asset = ("sell", action["sell"]) if action.get("buy") == "USD" else (
            "buy", action.get("buy"))
        return f"{side} {asset} {_num(proposal.get('notional_usd'))}"
    return f"{action.get('kind', '?')} {_num(proposal.get('notional_usd'))}"


def _proposal(payload: dict[str, Any]) -> list[str]:
    lines = []
    snapshot = payload.get("snapshot")
    if isinstance(snapshot, dict):
        lines.append(_row("snapshot", f"tick {snapshot.get('tick')} at {snapshot.get('ts')}, "
                                      f"phase {snapshot.get('phase')}, "
                                      f"close {_num(snapshot.get('close'))}, "
                                      f"volatility {_num(snapshot.get('volatility'))}"))
        indicators = snapshot.get("indicators") or {}
        if indicators:
            lines.append(_row("", ", ".join(f"{k} {_num(v)}" for k, v in indicators.items())))
    p = payload["proposal"]
    quantity = f", quantity {_num(p['quantity'])}" if p.get("quantity") is not None else ""
    lines.append(_row("proposal", f"{_proposal_short(p)}{quantity} by {p.get('strategy')}, "
                                  f"confidence {_num(p.get('confidence'))}"))
    lines.append(_row("", f"“{p.get('rationale')}”"))
    if "mood" in payload:
        lines.append(_row("mood", _num(payload["mood"])))
    return lines


def _risk(payload: dict[str, Any]) -> list[str]:
    lines = [
        _row("size", f"{_num(payload['requested_notional_usd'])} requested → "
                     f"{_num(payload['sized_notional_usd'])} sized, position share after "
                     f"{payload['position_share_after']:.1%}"),
        _row("risk", f"volatility per bar {_num(payload.get('volatility_per_bar'))}, "
                     f"VaR 95% {_num(payload.get('var_95_usd'))}, expected slippage "
                     f"{_num(payload.get('expected_slippage_bps'))} bps"),
    ]
    lines.extend(_row("note", note) for note in payload.get("notes") or ())
    return lines


def _policy(payload: dict[str, Any]) -> list[str]:
    verdict = "allowed" if payload["allowed"] else "denied"
    lines = [_row("verdict", f"{verdict}, tier {payload['tier']}, notional "
                             f"{_num(payload.get('notional_usd'))}, policy "
                             f"{payload.get('policy_version')}")]
    fired = payload.get("fired") or ()
    lines.extend(_row("rule", f"{f['rule']} ({f['effect']}): {f['reason']}") for f in fired)
    if not fired:
        lines.append(_row("rule", "none fired"))
    return lines


def _review(payload: dict[str, Any]) -> list[str]:
    model = payload.get("model")
    answered = f"model {model}" + (", offline" if payload.get("offline") else "") if model else (
        "offline, no language model" if payload.get("offline") else "no model named")
    lines = [_row("reviewer", f"{payload['reviewer']} ({answered})"),
             _row("review", f"{payload['outcome']}, confidence {_num(payload.get('confidence'))}")]
    lines.extend(_row("reason", reason) for reason in payload.get("reasons") or ())
    flags = payload.get("risk_flags") or ()
    lines.append(_row("flags", ", ".join(flags) if flags else "none"))
    if payload.get("input_tokens") or payload.get("cost_usd"):
        lines.append(_row("cost", f"{payload.get('input_tokens', 0)} in / "
                                  f"{payload.get('output_tokens', 0)} out tokens, "
                                  f"{_num(payload.get('cost_usd'))} USD"
                                  + (" (cached)" if payload.get("cached") else "")))
    if payload.get("error_class"):
        lines.append(_row("failed", f"{payload['error_class']}: escalated (fail closed)"))
    return lines


def _approval(payload: dict[str, Any]) -> list[str]:
    simulated = ", simulated by the backtest" if payload.get("simulated") else ""
    lines = [_row("request", f"{payload['request_id']}, tier {payload['tier']}, status "
                             f"{payload['status']}, needs {payload.get('required_approvals')}"
                             f"{simulated}"),
             _row("approvers", ", ".join(payload.get("approvals") or ()) or "none yet")]
    if payload.get("decided_by"):
        lines.append(_row("decided by", str(payload["decided_by"])))
    lines.append(_row("expires", str(payload.get("expires_at"))))
    lines.append(_row("binds", f"order payload hash {payload.get('payload_hash')}"))
    return lines


def _order(order: dict[str, Any]) -> list[str]:
    quantity = _num(order["quantity"]) if order.get("quantity") is not None else "by notional"
    return [_row("order", f"{order['side']} {order['asset']} notional "
                          f"{_num(order['notional_usd'])}, quantity {quantity}, "
                          f"{order.get('mode')}, {order.get('order_id')}, created "
                          f"{order.get('created_at')}")]


def _order_ended(payload: dict[str, Any]) -> list[str]:
    lines = _order(payload["order"]) if isinstance(payload.get("order"), dict) else []
    for key in ("error", "reason"):
        if payload.get(key):
            lines.append(_row(key, str(payload[key])))
    return lines


def _fill(fill: dict[str, Any]) -> list[str]:
    verb = "bought" if fill["side"] == "buy" else "sold"
    return [_row("fill", f"{verb} {_num(fill['quantity'])} {fill['asset']} at "
                         f"{_num(fill['price'])}, fee {_num(fill.get('fee_usd'))}, slippage "
                         f"{_num(fill.get('slippage_bps'))} bps, bar {fill.get('ts')} "
                         f"(tick {fill.get('tick')})")]


def _portfolio(payload: dict[str, Any]) -> list[str]:
    positions = ", ".join(f"{a} {_num(q)}" for a, q in (payload.get("positions") or {}).items())
    return [_row("portfolio", f"cash {_num(payload['cash_usd'])}, equity "
                              f"{_num(payload['equity_usd'])}, positions {positions or 'none'}"),
            _row("", f"realized pnl {_num(payload.get('realized_pnl_usd'))}, fees "
                     f"{_num(payload.get('fees_usd'))}")]


_RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    Stage.PROPOSAL_CREATED: _proposal,
    Stage.RISK_ASSESSED: _risk,
    Stage.POLICY_ALLOWED: _policy,
    Stage.POLICY_DENIED: _policy,
    Stage.REVIEW_APPROVED: _review,
    Stage.REVIEW_VETOED: _review,
    Stage.REVIEW_ESCALATED: _review,
    Stage.APPROVAL_REQUESTED: _approval,
    Stage.APPROVAL_GRANTED: _approval,
    Stage.APPROVAL_REJECTED: _approval,
    Stage.APPROVAL_EXPIRED: _approval,
    Stage.ORDER_SUBMITTED: _order,
    Stage.ORDER_FILLED: _fill,
    Stage.ORDER_FAILED: _order_ended,
    Stage.ORDER_CANCELLED: _order_ended,
    Stage.PORTFOLIO_UPDATED: _portfolio,
}
