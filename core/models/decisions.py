"""A decision on its way through the quorum: the proposal, its risk, the policy's verdict and
the reviewer's."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from core.models.base import CASH, Model, Symbol, Usd


class Swap(Model):
    kind: Literal["swap"] = "swap"
    sell: Symbol
    buy: Symbol

    @model_validator(mode="after")
    def _distinct(self) -> Swap:
        if self.sell == self.buy:
            raise ValueError("a swap must sell and buy different assets")
        return self


class Deposit(Model):
    kind: Literal["deposit"] = "deposit"
    asset: Symbol = Field(description="The token lent (USDC)")
    protocol: str
    receipt: Symbol | None = Field(
        default=None, description="What the treasury books it under (AUSDC); None: ``asset``"
    )


class Withdraw(Model):
    kind: Literal["withdraw"] = "withdraw"
    asset: Symbol
    protocol: str
    receipt: Symbol | None = None


class Rebalance(Model):
    kind: Literal["rebalance"] = "rebalance"
    target_weights: dict[str, Annotated[float, Field(ge=0, le=1)]]


Action = Annotated[Swap | Deposit | Withdraw | Rebalance, Field(discriminator="kind")]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Proposal(Model):
    """An action a strategy (or the treasury) wants; nothing executes without the quorum."""

    decision_id: str = Field(min_length=1)
    tick: int = Field(ge=0)
    ts: datetime
    strategy: str = Field(min_length=1)
    action: Action
    notional_usd: float = Field(gt=0, allow_inf_nan=False)
    rationale: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    quantity: float | None = Field(
        default=None, gt=0, description="Exact quantity to sell, for exits; None sizes by notional"
    )

    @property
    def asset(self) -> str:
        """The non-cash asset the proposal is about."""
        action = self.action
        if isinstance(action, Swap):
            return action.buy if action.sell == CASH else action.sell
        if isinstance(action, (Deposit, Withdraw)):
            return action.receipt or action.asset  # the position a deposit adds to
        return CASH

    @property
    def side(self) -> Side | None:
        """Buy or sell of ``asset``: a swap's direction; a deposit buys the protocol's receipt
        asset and a withdrawal sells it; None for a rebalance."""
        if isinstance(self.action, Swap):
            return Side.BUY if self.action.sell == CASH else Side.SELL
        if isinstance(self.action, Deposit):
            return Side.BUY
        if isinstance(self.action, Withdraw):
            return Side.SELL
        return None

    @property
    def reduces_risk(self) -> bool:
        """True for exits: selling a volatile asset for cash."""
        return self.side is Side.SELL


class RiskAssessment(Model):
    decision_id: str
    requested_notional_usd: Usd
    sized_notional_usd: Usd
    position_share_after: float = Field(ge=0)
    volatility_per_bar: float = Field(ge=0, allow_inf_nan=False)
    var_95_usd: Usd
    expected_slippage_bps: float = Field(ge=0)
    notes: tuple[str, ...] = ()


class Tier(StrEnum):
    """Who must agree before execution, from least to most strict."""

    AUTO = "auto"
    HUMAN = "human"
    QUORUM = "quorum"
    DENY = "deny"

    @property
    def rank(self) -> int:
        return _TIER_ORDER.index(self)

    def tighten(self, other: Tier) -> Tier:
        """The stricter of two tiers: a verdict can only move right on auto→human→quorum→deny."""
        return self if self.rank >= other.rank else other


_TIER_ORDER = [Tier.AUTO, Tier.HUMAN, Tier.QUORUM, Tier.DENY]


class RuleFiring(Model):
    rule: str
    effect: Literal["deny", "resize", "tier", "note"]
    reason: str


class PolicyVerdict(Model):
    decision_id: str
    allowed: bool
    tier: Tier
    notional_usd: Usd = Field(description="The notional the policy allows (after any resize)")
    fired: tuple[RuleFiring, ...] = ()
    policy_version: str

    @model_validator(mode="after")
    def _consistent(self) -> PolicyVerdict:
        if self.allowed == (self.tier is Tier.DENY):
            raise ValueError("allowed verdicts need a tier below deny; denied ones tier deny")
        return self


class ReviewOutcome(StrEnum):
    APPROVE = "approve"
    VETO = "veto"
    ESCALATE = "escalate"


class ReviewVerdict(Model):
    decision_id: str
    outcome: ReviewOutcome
    reasons: tuple[str, ...] = ()
    risk_flags: tuple[str, ...] = ()
    confidence: float = Field(ge=0, le=1)
    reviewer: str = Field(description="Which reviewer answered, e.g. offline-deterministic/v1")
    offline: bool = Field(description="True when no language model's answer decided the outcome")
    model: str | None = Field(default=None, description="The language model asked, if any")
    input_tokens: int = Field(default=0, ge=0, description="Input tokens this review was billed")
    output_tokens: int = Field(default=0, ge=0, description="Output tokens this review was billed")
    cost_usd: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="What this review cost at list price"
    )
    cached: bool = Field(default=False, description="Answered from the local cache, no API call")
    request_id: str | None = Field(default=None, description="The API's request-id, for support")
    error_class: str | None = Field(
        default=None, description="Why the reviewer failed closed, e.g. RateLimitError; None if not"
    )

    @model_validator(mode="after")
    def _failures_escalate(self) -> ReviewVerdict:
        if self.error_class is not None and self.outcome is not ReviewOutcome.ESCALATE:
            raise ValueError("a reviewer that failed must escalate (fail closed)")
        return self
