"""Quorum's domain types: what flows between the agents and into the decision log.

Every type is a frozen pydantic model that forbids unknown fields, so a value that reaches the
log or the executor is exactly what was validated. Nothing here does I/O.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_validator,
)

CASH = "USD"
"""The treasury's cash unit. With files quoted in another currency (BTC, ETH) it stands for that."""


class Model(BaseModel):
    """Base of every domain type: frozen, unknown fields forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid")


Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$", description="Ticker, upper case")]
Usd = Annotated[float, Field(ge=0, allow_inf_nan=False, description="Amount in the cash unit")]
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class AssetKind(StrEnum):
    VOLATILE = "volatile"
    STABLE = "stable"


class Asset(Model):
    symbol: Symbol
    kind: AssetKind = AssetKind.VOLATILE


class Bar(Model):
    """One OHLCV candle of one asset; ts is the bar's open time (UTC)."""

    asset: Symbol
    ts: datetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[float, Field(ge=0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _range(self) -> Bar:
        if self.high < self.low:
            raise ValueError(f"high {self.high} < low {self.low}")
        return self


class MarketPhase(StrEnum):
    BULL = "bull"
    BEAR = "bear"
    SIDEWAYS = "sideways"
    UNKNOWN = "unknown"


IndicatorValues = dict[str, float | None]
"""Indicator name (e.g. ``sma_10``) to its value; None during warm-up."""


class MarketSnapshot(Model):
    """Everything MarketIntel knows at the close of bar ``tick``; nothing after it."""

    tick: int = Field(ge=0)
    ts: datetime
    bars: dict[str, Bar]
    indicators: dict[str, IndicatorValues] = Field(default_factory=dict)
    previous_indicators: dict[str, IndicatorValues] = Field(default_factory=dict)
    volatility: dict[str, float | None] = Field(
        default_factory=dict, description="Std of log returns per bar over a trailing window"
    )
    phase: MarketPhase = MarketPhase.UNKNOWN

    def price(self, asset: str) -> float:
        """Close of the asset's latest bar."""
        return self.bars[asset].close

    def closes(self) -> dict[str, float]:
        """Each asset's close. A backtest's snapshot (agents/snapshot_rows.py) builds its bars
        only when read, and gives these without building any."""
        closes = getattr(self.bars, "closes", None)
        return closes() if closes else {asset: bar.close for asset, bar in self.bars.items()}

    @field_serializer("bars", "indicators", "previous_indicators", "volatility", mode="wrap")
    def _plain(self, value: Any, plain: SerializerFunctionWrapHandler) -> Any:
        """A backtest's snapshot holds read-only mappings: serialised as the dicts they are."""
        return plain(value if isinstance(value, dict) else dict(value))


class Headline(Model):
    """One text item from a feed: untrusted data, scored and shown, never obeyed."""

    ts: datetime
    asset: str | None = Field(description="The asset it is about; None for market-wide")
    text: str


class SentimentReading(Model):
    """Scores of the text items published up to ``ts``: -1 (bearish) .. +1 (bullish)."""

    tick: int = Field(ge=0)
    ts: datetime
    per_asset: dict[str, float] = Field(default_factory=dict)
    mood: float = Field(ge=0, le=100, description="Fear (0) to greed (100)")
    items_scored: int = Field(ge=0)
    headlines: tuple[Headline, ...] = Field(
        default=(), description="The latest items scored, oldest first (what a reviewer reads)"
    )


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


Action = Annotated[Union[Swap, Deposit, Withdraw, Rebalance], Field(discriminator="kind")]


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


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Order(Model):
    """What the executor is asked to do; decision_id is the idempotency key."""

    order_id: str
    decision_id: str
    tick: int = Field(ge=0)
    created_at: datetime
    asset: Symbol
    side: Side
    notional_usd: float = Field(gt=0, allow_inf_nan=False)
    quantity: float | None = Field(default=None, gt=0)
    mode: Literal["paper", "devnet", "fork", "live"] = "paper"


class ApprovalRequest(Model):
    """A request for people to approve one exact order before it may execute."""

    request_id: str
    decision_id: str
    tier: Tier
    order: Order
    payload_hash: str = Field(description="SHA-256 of the order's canonical JSON")
    required_approvals: int = Field(ge=1)
    approvals: tuple[str, ...] = ()
    status: ApprovalStatus = ApprovalStatus.PENDING
    created_at: datetime
    expires_at: datetime
    nonce: str
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None


class Fill(Model):
    order_id: str
    decision_id: str
    tick: int = Field(ge=0)
    ts: datetime
    asset: Symbol
    side: Side
    quantity: float = Field(gt=0, allow_inf_nan=False)
    price: Price
    fee_usd: Usd
    slippage_bps: float = Field(ge=0)

    @property
    def notional_usd(self) -> float:
        return self.quantity * self.price


class Position(Model):
    asset: Symbol
    quantity: float = Field(ge=0)
    avg_entry_price: float = Field(ge=0)
    opened_at: datetime | None = None


class PortfolioState(Model):
    tick: int = Field(ge=0)
    ts: datetime
    cash_usd: float = Field(allow_inf_nan=False)
    positions: dict[str, Position] = Field(default_factory=dict)
    prices: dict[str, float] = Field(default_factory=dict)
    realized_pnl_usd: float = 0.0
    fees_usd: Usd = 0.0
    initial_equity_usd: Usd

    @property
    def equity_usd(self) -> float:
        prices = self.prices  # position_value of each, inlined: the same floats, summed in order
        return self.cash_usd + sum(position.quantity * prices.get(asset, position.avg_entry_price)
                                   for asset, position in self.positions.items())

    def position_value(self, asset: str) -> float:
        position = self.positions.get(asset)
        if position is None:
            return 0.0
        return position.quantity * self.prices.get(asset, position.avg_entry_price)

    def quantity(self, asset: str) -> float:
        position = self.positions.get(asset)
        return position.quantity if position else 0.0


class Stage(StrEnum):
    """Decision-log stages: events, named in the past tense."""

    RUN_STARTED = "RunStarted"
    RUN_FINISHED = "RunFinished"
    PROPOSAL_CREATED = "ProposalCreated"
    RISK_ASSESSED = "RiskAssessed"
    POLICY_ALLOWED = "PolicyAllowed"
    POLICY_DENIED = "PolicyDenied"
    REVIEW_APPROVED = "ReviewApproved"
    REVIEW_VETOED = "ReviewVetoed"
    REVIEW_ESCALATED = "ReviewEscalated"
    APPROVAL_REQUESTED = "ApprovalRequested"
    APPROVAL_GRANTED = "ApprovalGranted"
    APPROVAL_REJECTED = "ApprovalRejected"
    APPROVAL_EXPIRED = "ApprovalExpired"
    ORDER_SUBMITTED = "OrderSubmitted"
    ORDER_FILLED = "OrderFilled"
    ORDER_FAILED = "OrderFailed"
    ORDER_CANCELLED = "OrderCancelled"
    PORTFOLIO_UPDATED = "PortfolioUpdated"
    TREASURY_MISMATCH = "TreasuryMismatch"


GENESIS_HASH = "0" * 64


class DecisionLogEntry(Model):
    """One entry of the hash-chained decision log.

    ``hash`` is the SHA-256 of the canonical bytes of every other field; ``prev_hash`` is the
    previous entry's ``hash`` (GENESIS_HASH for index 0).
    """

    index: int = Field(ge=0)
    decision_id: str
    stage: str
    logged_at: datetime
    payload: dict[str, Any]
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


def finite_or_none(value: float) -> float | None:
    """An indicator value fit for JSON: NaN (warm-up) becomes None."""
    return None if math.isnan(value) else float(value)

