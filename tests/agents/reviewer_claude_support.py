"""Shared pieces of the Claude reviewer tests: the fake API fixture, a reviewer factory, and
a typical situation to review."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from agents.reviewer import ReviewerConfig
from agents.reviewer_claude import CLAUDE_REVIEWER, FAILED_FLAG, ClaudeReviewer
from core.gate import final_tier
from core.models import (
    CASH,
    Bar,
    MarketSnapshot,
    PolicyVerdict,
    PortfolioState,
    Proposal,
    ReviewOutcome,
    ReviewVerdict,
    RiskAssessment,
    SentimentReading,
    Swap,
    Tier,
)
from tests.agents.fake_anthropic import (
    FakeAnthropic,
)

KEY = "sk-ant-test-0123456789-never-log-me"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2030, 6, 1, 12, tzinfo=UTC)
CONFIG = {"timeout_s": 0.5, "max_retries": 1}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make_reviewer(fake, db_url, clock):
    def make(*, base_url: str | None = None, **overrides) -> ClaudeReviewer:
        config = ReviewerConfig(**{**CONFIG, **overrides})
        return ClaudeReviewer(config, api_key=SecretStr(KEY), db_url=db_url,
                              base_url=base_url or fake.url, clock=clock)

    return make


def _situation(*, notional: float = 5_000, equity: float = 100_000, decision_id: str = "d-1",
               rationale: str = "fast SMA crossed above slow") -> dict:
    proposal = Proposal(
        decision_id=decision_id, tick=5, ts=T0, strategy="sma_cross",
        action=Swap(sell=CASH, buy="BTC"), notional_usd=notional, rationale=rationale,
        confidence=0.8,
    )
    assessment = RiskAssessment(
        decision_id=decision_id, requested_notional_usd=notional, sized_notional_usd=notional,
        position_share_after=notional / equity, volatility_per_bar=0.01,
        var_95_usd=notional * 0.0165, expected_slippage_bps=5.0,
    )
    bar = Bar(asset="BTC", ts=T0, open=100, high=101, low=99, close=100, volume=1e9)
    return {
        "proposal": proposal,
        "assessment": assessment,
        "snapshot": MarketSnapshot(tick=5, ts=T0, bars={"BTC": bar},
                                   indicators={"BTC": {"sma_10": 99.0, "sma_30": 97.5}}),
        "sentiment": SentimentReading(tick=5, ts=T0, per_asset={"BTC": 0.1}, mood=55,
                                      items_scored=4),
        "portfolio": PortfolioState(tick=5, ts=T0, cash_usd=equity, initial_equity_usd=equity,
                                    prices={"BTC": 100.0}),
    }


def _policy(tier: Tier = Tier.AUTO, *, notional: float = 5_000, decision_id: str = "d-1"):
    return PolicyVerdict(decision_id=decision_id, allowed=tier is not Tier.DENY, tier=tier,
                         notional_usd=notional, policy_version="test")


def _review(reviewer, *, tier: Tier = Tier.AUTO, headlines=(), **situation) -> ReviewVerdict:
    context = _situation(**situation)
    policy = _policy(tier, notional=context["proposal"].notional_usd,
                     decision_id=context["proposal"].decision_id)
    return reviewer.review(verdict=policy, headlines=headlines, **context)


def _assert_failed_closed(result: ReviewVerdict, error_class: str) -> None:
    assert result.outcome is ReviewOutcome.ESCALATE
    assert result.error_class == error_class
    assert result.risk_flags == (FAILED_FLAG,)
    assert result.confidence == 0.0
    assert result.offline is True and result.cached is False
    assert result.reviewer == CLAUDE_REVIEWER
    assert result.reasons[0].startswith(f"the reviewer failed closed ({error_class}): ")
    assert final_tier(_policy(Tier.AUTO), result) is Tier.HUMAN  # a person must decide
