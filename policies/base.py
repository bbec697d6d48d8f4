"""The policy-rule seam: a small base class with a typed config, a registry by name.

A rule looks at one proposal in context and answers with a RuleResult, or None when it has
nothing to say. Rules are deterministic and never do I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from core.models import MarketSnapshot, PortfolioState, Proposal, RiskAssessment


class RuleConfig(BaseModel):
    """Base of every rule's config: frozen, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """Everything a rule may look at."""

    proposal: Proposal
    assessment: RiskAssessment
    portfolio: PortfolioState
    snapshot: MarketSnapshot
    reserved_usd_by_asset: dict[str, float]
    """Buys already in flight (awaiting approval or fill), which count against every limit."""


@dataclass(frozen=True, slots=True)
class RuleResult:
    effect: Literal["deny", "resize", "note"]
    reason: str
    notional_usd: float | None = None  # the new, smaller notional for "resize"


class Rule(ABC):
    id: ClassVar[str]
    config_model: ClassVar[type[RuleConfig]]

    def __init__(self, config: RuleConfig) -> None:
        self.config = config

    @abstractmethod
    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        """Judge the proposal at ``notional_usd`` (the size after earlier rules)."""


_RULES: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    _RULES[cls.id] = cls
    return cls


def rules() -> dict[str, type[Rule]]:
    """Every known rule by id (importing the rule modules first)."""
    from policies import rules as _  # noqa: F401  (the package imports each rule)

    return dict(_RULES)
