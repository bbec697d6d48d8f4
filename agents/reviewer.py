"""The reviewer: a second opinion on every proposal the policy allowed.

It can approve, veto or escalate, and nothing else: the governor applies its verdict with
``core.gate.final_tier``, which can only tighten the policy's tier. Without an
ANTHROPIC_API_KEY the deterministic offline reviewer below answers, and says so in every verdict;
with one, ``agents.reviewer_claude.ClaudeReviewer`` asks Claude. Both share ``ReviewerConfig``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import Field

from core.config_model import ConfigModel
from core.models import (
    MarketSnapshot,
    PolicyVerdict,
    PortfolioState,
    Proposal,
    ReviewOutcome,
    ReviewVerdict,
    RiskAssessment,
    SentimentReading,
    Side,
)

OFFLINE_REVIEWER = "offline-deterministic/v1"


class ReviewerConfig(ConfigModel):
    """`[reviewer]`: the offline reviewer's thresholds and the Claude reviewer's settings."""

    min_confidence: float = Field(
        default=0.2, ge=0, le=1, description="Veto proposals whose strategy is less sure"
    )
    max_slippage_bps: float = Field(
        default=100, ge=0, description="Veto entries expected to slip more (exits are flagged)"
    )
    escalate_var_share: float = Field(
        default=0.02, gt=0, description="Escalate when one-bar 95% VaR after the trade exceeds "
        "this share of equity",
    )
    escalate_against_sentiment: float = Field(
        default=-0.5, ge=-1, le=0, description="Escalate buys of an asset scored below this"
    )
    # The Claude reviewer (used only when ANTHROPIC_API_KEY is set).
    model: str = Field(
        default="claude-sonnet-4-6", min_length=1, description="Claude model that reviews"
    )
    max_output_tokens: int = Field(
        default=1024, gt=0, le=8192, description="Most tokens one review may answer with"
    )
    timeout_s: float = Field(
        default=30, gt=0, allow_inf_nan=False, description="Seconds one API attempt may take"
    )
    max_retries: int = Field(
        default=2, ge=0, le=10, description="SDK retries of 429, 5xx, connection errors and "
        "timeouts (with backoff); other errors are never retried",
    )
    daily_token_budget: int = Field(
        default=2_000_000, ge=0, description="Input plus output tokens one UTC day may spend; "
        "past it reviews escalate to a person without calling the API",
    )
    usd_per_million_input_tokens: float = Field(
        default=3.0, ge=0, allow_inf_nan=False, description="List price of input tokens"
    )
    usd_per_million_output_tokens: float = Field(
        default=15.0, ge=0, allow_inf_nan=False, description="List price of output tokens"
    )
    cache: bool = Field(
        default=True, description="Answer an identical review from the local cache (the run's "
        "database) instead of calling the API again",
    )


class Reviewer(Protocol):
    """What the governor needs from a reviewer."""

    def review(
        self,
        *,
        proposal: Proposal,
        assessment: RiskAssessment,
        verdict: PolicyVerdict,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
        headlines: Sequence[str] = (),
    ) -> ReviewVerdict: ...

    def health(self) -> dict[str, Any]: ...


class OfflineReviewer:
    """Deterministic rules standing in for the language-model reviewer."""

    def __init__(self, config: ReviewerConfig) -> None:
        self.config = config
        self.reviewed = 0

    def review(
        self,
        *,
        proposal: Proposal,
        assessment: RiskAssessment,
        verdict: PolicyVerdict,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
        headlines: Sequence[str] = (),  # no rule of this reviewer reads text
    ) -> ReviewVerdict:
        """Veto, escalate or approve by the thresholds in the config."""
        self.reviewed += 1
        config = self.config
        vetoes, escalations, flags = [], [], []
        if proposal.confidence < config.min_confidence and not proposal.reduces_risk:
            vetoes.append(f"confidence {proposal.confidence:.2f} < {config.min_confidence:.2f}")
            flags.append("low_confidence")
        if assessment.expected_slippage_bps > config.max_slippage_bps:
            flags.append("slippage")
            if not proposal.reduces_risk:  # vetoing an exit would trap the risk it sheds
                vetoes.append(
                    f"expected slippage {assessment.expected_slippage_bps:.0f} bps "
                    f"> {config.max_slippage_bps:.0f} bps"
                )
        equity = portfolio.equity_usd
        if equity > 0 and assessment.var_95_usd > config.escalate_var_share * equity:
            escalations.append(
                f"VaR95 {assessment.var_95_usd:,.0f} > {config.escalate_var_share:.0%} of equity"
            )
            flags.append("var")
        score = sentiment.per_asset.get(proposal.asset, 0.0)
        if proposal.side is Side.BUY and score < config.escalate_against_sentiment:
            escalations.append(f"buying {proposal.asset} against sentiment {score:+.2f}")
            flags.append("sentiment")
        if vetoes:
            outcome, reasons = ReviewOutcome.VETO, vetoes + escalations
        elif escalations:
            outcome, reasons = ReviewOutcome.ESCALATE, escalations
        else:
            outcome, reasons = ReviewOutcome.APPROVE, ["within the offline reviewer's limits"]
        return ReviewVerdict(
            decision_id=proposal.decision_id,
            outcome=outcome,
            reasons=tuple(reasons),
            risk_flags=tuple(flags),
            confidence=1.0,
            reviewer=OFFLINE_REVIEWER,
            offline=True,
        )

    def health(self) -> dict[str, Any]:
        return {"reviewed": self.reviewed, "reviewer": OFFLINE_REVIEWER}
