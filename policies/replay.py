"""Judge logged decisions again under another policy: which would flip, and what they earned.

Each decision is judged in the context it was logged with (proposal, risk assessment, and the
portfolio, reservations, bar and history the governor logged beside the verdict). It does not
re-simulate what a flip would have changed afterwards. A decision whose log lacks a part some
rule needs is reported as undetermined, naming the rule and the part, never guessed.
Pure: takes entries, returns results; reading the database is the caller's business.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.models import (
    DecisionLogEntry,
    Fill,
    PolicyVerdict,
    Proposal,
    RuleFiring,
    Side,
    Stage,
    Tier,
)
from core.policy_context import context_from_log, kill_switch_backstop
from policies.engine import PolicyEngine

POLICY_STAGES = (Stage.POLICY_ALLOWED.value, Stage.POLICY_DENIED.value)
QUANTITY_EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class Replayed:
    """One logged decision, as it was decided and as the other policy would decide it."""

    decision_id: str
    proposal: Proposal
    sized_notional_usd: float
    was_allowed: bool
    was_tier: Tier
    verdict: PolicyVerdict
    unjudged: tuple[RuleFiring, ...]
    realised_pnl_usd: float | None
    """Realised PnL of what the decision executed (an entry: once its position closed)."""

    @property
    def determined(self) -> bool:
        return not self.unjudged

    @property
    def flipped(self) -> bool:
        return self.determined and self.verdict.allowed != self.was_allowed

    @property
    def tier_changed(self) -> bool:
        return self.determined and self.verdict.tier is not self.was_tier


def replay(entries: Sequence[DecisionLogEntry], engine: PolicyEngine) -> list[Replayed]:
    """Every decision that reached the policy stage, judged again by ``engine``, in log order."""
    payloads: dict[str, dict[str, dict]] = defaultdict(dict)
    order: list[str] = []
    for entry in entries:
        stages = payloads[entry.decision_id]
        stages[entry.stage] = entry.payload
        if entry.stage in POLICY_STAGES:
            order.append(entry.decision_id)
    pnl = realised_pnl(entries)
    results = []
    for decision_id in order:
        stages = payloads[decision_id]
        if "ProposalCreated" not in stages or "RiskAssessed" not in stages:
            continue  # not a decision this governor logged whole; nothing to judge it on
        context = context_from_log(stages)
        judgement = engine.judge(context)
        verdict = kill_switch_backstop(judgement.verdict, context)  # as the governor would
        was = stages.get(Stage.POLICY_ALLOWED.value) or stages[Stage.POLICY_DENIED.value]
        results.append(Replayed(
            decision_id=decision_id,
            proposal=context.proposal,
            sized_notional_usd=context.assessment.sized_notional_usd,
            was_allowed=bool(was["allowed"]),
            was_tier=Tier(was["tier"]),
            verdict=verdict,
            unjudged=judgement.unjudged,
            realised_pnl_usd=pnl.get(decision_id),
        ))
    return results


def realised_pnl(entries: Iterable[DecisionLogEntry]) -> dict[str, float]:
    """Realised PnL (fees included) by decision id, from the log's fills.

    Average cost per run and asset, as the treasury books it: an exit's PnL is its own; an
    entry's is its share of the exits that sold what it bought, known once all of it is sold.
    """
    books: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(dict)
    realised: dict[str, float] = defaultdict(float)
    closed: set[str] = set()
    for entry in entries:
        if entry.stage != Stage.ORDER_FILLED.value:
            continue
        fill = Fill.model_validate(entry.payload)
        book = books[(run_of(fill.decision_id), fill.asset)]
        if fill.side is Side.BUY:
            lot = book.setdefault(fill.decision_id, [0.0, 0.0])
            lot[0] += fill.quantity
            lot[1] += fill.notional_usd + fill.fee_usd
            continue
        realised[fill.decision_id] = _sell(book, fill, realised, closed)
        closed.add(fill.decision_id)
    return {decision_id: realised[decision_id] for decision_id in closed}


def _sell(book: dict[str, list[float]], fill: Fill, realised: dict[str, float],
          closed: set[str]) -> float:
    held = sum(quantity for quantity, _ in book.values())
    if held <= 0:
        return 0.0
    share = min(1.0, fill.quantity / held)
    proceeds = fill.notional_usd - fill.fee_usd
    total = 0.0
    for decision_id, lot in list(book.items()):
        quantity, cost = lot[0] * share, lot[1] * share
        pnl = proceeds * quantity / fill.quantity - cost
        realised[decision_id] += pnl
        total += pnl
        lot[0] -= quantity
        lot[1] -= cost
        if share >= 1.0 or lot[0] <= QUANTITY_EPSILON:
            del book[decision_id]
            closed.add(decision_id)
    return total


def run_of(decision_id: str) -> str:
    """The run a decision id belongs to: ids are ``<run>-<tick:06d>-<n>``."""
    parts = decision_id.rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[1].isdigit() else decision_id
