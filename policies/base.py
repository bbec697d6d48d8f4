"""The policy-rule seam: a small base class with a typed config, a registry by name.

A rule looks at one proposal in context and answers with a RuleResult (deny, resize down,
require a tier, or a note), or None when it has nothing to say. Rules are deterministic and never
do I/O or read a clock: "now" comes in the context's PolicyState.

A rule declares which parts of the context it ``needs`` beyond the proposal and its assessment.
A context can lack some (a decision logged before the governor logged them, judged again by
`quorum policy replay`); the engine then never runs the rule on a guess: it fails closed and
says what was missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from core.config_model import ConfigModel
from core.models import (
    Bar,
    MarketSnapshot,
    PortfolioState,
    Proposal,
    RiskAssessment,
    Swap,
    Tier,
)
from policies.state import PolicyState

PORTFOLIO = "portfolio"
"""The marked portfolio: cash, positions, prices, equity."""
RESERVED = "reserved"
"""Buys awaiting approval or fill, by asset."""
HISTORY = "history"
"""The PolicyState: the policy's clock, closed trades, sent orders, equity peak, kill switch."""
PRICE = "price"
"""The close of the proposal's asset in the snapshot (the oracle price)."""
VOLUME = "volume"
"""The traded volume of the proposal's asset's latest bar."""
CONTEXT_PARTS = frozenset({PORTFOLIO, RESERVED, HISTORY, PRICE, VOLUME})


class RuleConfig(ConfigModel):
    """Base of every rule's config: frozen, unknown keys are errors."""


class MissingContext(LookupError):
    """A rule asked for a part of the context that this context does not have."""


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """Everything a rule may look at."""

    proposal: Proposal
    assessment: RiskAssessment
    portfolio: PortfolioState
    snapshot: MarketSnapshot
    reserved_usd_by_asset: dict[str, float]
    """Buys already in flight (awaiting approval or fill), which count against every limit."""
    state: PolicyState | None = None
    """The history; None only where it is unknown (then HISTORY is missing)."""
    missing: frozenset[str] = field(default_factory=frozenset)
    """Parts (of CONTEXT_PARTS) that are placeholders here, not known values."""
    own_quantity: float | None = None
    """How much of the proposal's asset its strategy's own lot holds (the strategy's book in
    the treasury; the portfolio shows every lot of an asset as one position); None: unknown."""

    @property
    def lacking(self) -> frozenset[str]:
        """Every part this context cannot supply."""
        return (self.missing | {HISTORY}) if self.state is None else self.missing

    @property
    def history(self) -> PolicyState:
        if self.state is None:
            raise MissingContext(HISTORY)
        return self.state

    def bar(self) -> Bar | None:
        """The latest bar of the proposal's asset, or None when the snapshot has none."""
        return self.snapshot.bars.get(self.proposal.asset)

    def reserved(self, asset: str) -> float:
        return self.reserved_usd_by_asset.get(asset, 0.0)


@dataclass(frozen=True, slots=True)
class RuleResult:
    effect: Literal["deny", "resize", "tier", "note"]
    reason: str
    notional_usd: float | None = None  # the new, smaller notional for "resize"
    tier: Tier | None = None  # the least strict tier allowed for "tier"


class Rule(ABC):
    id: ClassVar[str]
    config_model: ClassVar[type[RuleConfig]]
    needs: ClassVar[frozenset[str]] = frozenset()
    """Parts of the context (CONTEXT_PARTS) the rule reads besides proposal and assessment."""

    def __init__(self, config: RuleConfig) -> None:
        self.config = config

    @property
    def lookback_s(self) -> float:
        """How far back in the history the rule looks (the governor keeps at least this)."""
        return 0.0

    def applies_to(self, proposal: Proposal) -> bool:
        """Whether the rule judges this kind of proposal at all."""
        return True

    @abstractmethod
    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        """Judge the proposal at ``notional_usd`` (the size after earlier rules)."""


class EntryLock(Rule):
    """A rule that locks new entries: exits that shed risk (``reduces_risk``) always pass it."""

    needs = frozenset({HISTORY})

    def applies_to(self, proposal: Proposal) -> bool:
        return not proposal.reduces_risk


class SwapRule(Rule):
    """A rule about executing a swap on a market (price, liquidity): other actions pass it."""

    def applies_to(self, proposal: Proposal) -> bool:
        return isinstance(proposal.action, Swap)


def hours(seconds: float) -> str:
    """``5400`` -> ``1.5h``; for reasons a person reads."""
    return f"{seconds / 3600:g}h"


_RULES: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    _RULES[cls.id] = cls
    return cls


def rules() -> dict[str, type[Rule]]:
    """Every known rule by id (importing the rule modules first)."""
    from policies import rules as _  # noqa: F401  (the package imports each rule)

    return dict(_RULES)
