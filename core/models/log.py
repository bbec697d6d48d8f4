"""The decision log's stages (events, in the past tense) and its hash-chained entry."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from core.models.base import Model


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
