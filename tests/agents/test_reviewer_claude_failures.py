"""The Claude reviewer failing closed (errors, refusals, bad answers) and its cache and daily
token budget, against the fake Messages API through the real anthropic SDK."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from agents.reviewer_claude import CLAUDE_REVIEWER
from core.models import (
    ReviewOutcome,
    ReviewVerdict,
)
from tests.agents.fake_anthropic import (
    Reply,
    error,
    message,
    refusal,
    verdict,
)
from tests.agents.fake_anthropic import tool_use as tool_use_block
from tests.agents.reviewer_claude_support import (
    KEY,
    _assert_failed_closed,
    _review,
)

# --- failing closed --------------------------------------------------------------------------


def test_a_rate_limit_is_retried_by_the_sdk_then_answered(fake, make_reviewer):
    fake.push(error(429, "rate_limit_error", "Number of requests has exceeded your rate limit",
                    headers={"retry-after-ms": "20"}),
              verdict("approve"))
    result = _review(make_reviewer(max_retries=2))
    assert result.outcome is ReviewOutcome.APPROVE and result.error_class is None
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]


def test_a_rate_limit_that_outlasts_the_retries_escalates(fake, make_reviewer):
    limited = error(429, "rate_limit_error", "Number of requests has exceeded your rate limit",
                    headers={"retry-after-ms": "20"})
    fake.push(limited, limited, limited, verdict("approve"))
    with capture_logs() as logs:
        result = _review(make_reviewer(max_retries=2))
    _assert_failed_closed(result, "RateLimitError")
    assert len(fake.requests) == 3  # one call and two retries, never more
    assert re.fullmatch(r"req_fake\d+", result.request_id)
    assert "HTTP 429 rate_limit_error (after up to 2 retries)" in result.reasons[0]
    assert logs == [{
        "event": "reviewer.failed_closed", "log_level": "warning", "decision_id": "d-1",
        "error_class": "RateLimitError",
        "detail": "HTTP 429 rate_limit_error (after up to 2 retries)", "status_code": 429,
        "retryable": True, "request_id": result.request_id, "input_tokens": 0,
        "output_tokens": 0,
    }]


def test_a_server_error_escalates_after_bounded_retries(fake, make_reviewer):
    fake.push(*[error(500, "api_error", "Internal server error")] * 2, verdict("approve"))
    result = _review(make_reviewer(max_retries=1))
    _assert_failed_closed(result, "InternalServerError")
    assert len(fake.requests) == 2


def test_an_overloaded_api_is_retried_then_answered(fake, make_reviewer):
    fake.push(error(529, "overloaded_error", "Overloaded"), verdict("veto"))
    result = _review(make_reviewer(max_retries=1))
    assert result.outcome is ReviewOutcome.VETO and len(fake.requests) == 2


def test_an_overloaded_api_that_stays_overloaded_escalates(fake, make_reviewer):
    fake.push(error(529, "overloaded_error", "Overloaded"))
    result = _review(make_reviewer(max_retries=0))
    _assert_failed_closed(result, "OverloadedError")
    assert len(fake.requests) == 1


def test_a_timeout_escalates(fake, make_reviewer):
    slow = verdict("approve", delay_s=1.5)
    fake.push(slow, slow)
    result = _review(make_reviewer(timeout_s=0.2, max_retries=1))
    _assert_failed_closed(result, "APITimeoutError")
    assert len(fake.requests) == 2
    assert "no answer within 0.2 s" in result.reasons[0]


def test_an_unreachable_api_escalates(make_reviewer):
    result = _review(make_reviewer(base_url="http://127.0.0.1:9", max_retries=0))
    _assert_failed_closed(result, "APIConnectionError")


@pytest.mark.parametrize(
    ("reply", "error_class"),
    [
        (error(400, "invalid_request_error", "max_tokens: Field required"), "BadRequestError"),
        (error(401, "authentication_error", "invalid x-api-key"), "AuthenticationError"),
    ],
)
def test_a_client_error_escalates_without_a_retry(fake, make_reviewer, reply, error_class):
    fake.push(reply, verdict("approve"))
    result = _review(make_reviewer(max_retries=2))
    _assert_failed_closed(result, error_class)
    assert len(fake.requests) == 1
    assert KEY not in result.model_dump_json()


def test_a_refusal_escalates_and_still_counts_its_tokens(fake, make_reviewer):
    fake.push(refusal(input_tokens=900, output_tokens=12))
    result = _review(make_reviewer())
    _assert_failed_closed(result, "Refusal")
    assert (result.input_tokens, result.output_tokens) == (900, 12)
    assert result.cost_usd == pytest.approx(900 * 3 / 1e6 + 12 * 15 / 1e6)


@pytest.mark.parametrize(
    "tool_input",
    [
        {"outcome": "yes", "reasons": ["ok"], "risk_flags": [], "confidence": 0.9},
        {"outcome": "approve", "reasons": ["ok"], "risk_flags": [], "confidence": 1.5},
        {"outcome": "approve", "reasons": ["ok"], "risk_flags": [], "confidence": "0.9"},
        {"outcome": "approve", "risk_flags": [], "confidence": 0.9},
        {"outcome": "approve", "reasons": [], "risk_flags": [], "confidence": 0.9},
        {"outcome": "approve", "reasons": ["ok"], "risk_flags": ["Not A Flag!"],
         "confidence": 0.9},
        {"outcome": "approve", "reasons": ["ok"], "risk_flags": [], "confidence": 0.9,
         "raise_limit_usd": 1_000_000},
        "approve",
    ],
    ids=["unknown-outcome", "confidence-above-1", "confidence-as-text", "no-reasons",
         "empty-reasons", "bad-flag", "extra-field", "not-an-object"],
)
def test_malformed_tool_input_escalates(fake, make_reviewer, tool_input):
    fake.push(message([tool_use_block(tool_input)], stop_reason="tool_use"))
    result = _review(make_reviewer())
    _assert_failed_closed(result, "InvalidToolInput")
    assert "invalid tool input: " in result.reasons[0]
    assert result.input_tokens > 0  # the call was billed even though its answer is unusable


@pytest.mark.parametrize(
    ("reply", "error_class"),
    [
        (message([{"type": "text", "text": "Approve."}], stop_reason="end_turn"), "NoToolUse"),
        (message([tool_use_block({"outcome": "approve"}, name="other_tool")],
                 stop_reason="tool_use"), "NoToolUse"),
        (message([tool_use_block({"outcome": "approve", "reasons": ["ok"]})],
                 stop_reason="max_tokens"), "Truncated"),
        (message([tool_use_block({"outcome": "veto", "reasons": ["a"], "risk_flags": [],
                                  "confidence": 0.5}),
                  tool_use_block({"outcome": "approve", "reasons": ["b"], "risk_flags": [],
                                  "confidence": 0.5})], stop_reason="tool_use"),
         "InvalidToolInput"),
        (message([tool_use_block({"outcome": "approve", "reasons": ["ok"]})],
                 stop_reason="model_context_window_exceeded"), "Truncated"),
        (Reply(200, {"type": "message", "content": "not a list of blocks"}), "NoToolUse"),
        (Reply(200, {"type": "message", "content": 5, "usage": None}), "NoToolUse"),
        (Reply(200, b'{"type": "message", "content": [{"type": "tool_use", "inp'),
         "JSONDecodeError"),
    ],
    ids=["text-only", "wrong-tool", "cut-off", "two-calls", "context-full", "garbled-content",
         "content-not-a-list", "body-not-json"],
)
def test_an_answer_without_one_valid_review_call_escalates(fake, make_reviewer, reply,
                                                            error_class):
    fake.push(reply)
    _assert_failed_closed(_review(make_reviewer()), error_class)


def test_a_failed_verdict_cannot_approve():
    with pytest.raises(ValueError, match="must escalate"):
        ReviewVerdict(decision_id="d-1", outcome=ReviewOutcome.APPROVE, confidence=0,
                      reviewer=CLAUDE_REVIEWER, offline=True, error_class="RateLimitError")


# --- cache and budget ------------------------------------------------------------------------


def test_an_identical_review_is_answered_from_the_cache_without_a_second_call(
    fake, make_reviewer
):
    fake.push(verdict("veto", reasons=("too hot",), input_tokens=1_000, output_tokens=100))
    first = _review(make_reviewer(), decision_id="run1-000005-0")
    with capture_logs() as logs:
        # Another reviewer on the same database (a restarted actor, a re-run), another decision.
        again = _review(make_reviewer(), decision_id="run2-000005-0")
    assert len(fake.requests) == 1
    assert again.cached is True and first.cached is False
    assert again.decision_id == "run2-000005-0"
    assert (again.outcome, again.reasons, again.request_id) == (
        first.outcome, first.reasons, first.request_id)
    assert (again.input_tokens, again.output_tokens, again.cost_usd) == (0, 0, 0.0)
    assert logs[0]["event"] == "reviewer.reviewed" and logs[0]["cached"] is True


def test_a_different_context_is_not_a_cache_hit(fake, make_reviewer):
    fake.push(verdict("approve"), verdict("veto"))
    reviewer = make_reviewer()
    assert _review(reviewer, notional=5_000).outcome is ReviewOutcome.APPROVE
    assert _review(reviewer, notional=6_000).outcome is ReviewOutcome.VETO
    assert len(fake.requests) == 2


def test_a_failed_review_is_not_cached(fake, make_reviewer):
    fake.push(error(500, "api_error", "Internal server error"), verdict("approve"))
    reviewer = make_reviewer(max_retries=0)
    _assert_failed_closed(_review(reviewer), "InternalServerError")
    assert _review(reviewer).outcome is ReviewOutcome.APPROVE
    assert len(fake.requests) == 2


def test_with_the_cache_off_every_review_calls(fake, make_reviewer):
    fake.push(verdict("approve"), verdict("approve"))
    reviewer = make_reviewer(cache=False)
    _review(reviewer)
    assert _review(reviewer).cached is False
    assert len(fake.requests) == 2


def test_past_the_daily_budget_reviews_escalate_without_a_call(fake, make_reviewer, clock):
    fake.push(verdict("approve", input_tokens=900, output_tokens=200), verdict("approve"))
    reviewer = make_reviewer(daily_token_budget=1_000)
    assert _review(reviewer, notional=5_000).outcome is ReviewOutcome.APPROVE  # 1,100 spent
    with capture_logs() as logs:
        result = _review(reviewer, notional=6_000)
    _assert_failed_closed(result, "BudgetExhausted")
    assert len(fake.requests) == 1
    assert "1,100 of the 1,000 tokens allowed on 2030-06-01 (UTC)" in result.reasons[0]
    assert logs[0]["event"] == "reviewer.failed_closed"
    assert logs[0]["error_class"] == "BudgetExhausted" and logs[0]["status_code"] is None
    assert reviewer.health()["tokens_today"] == 1_100
    clock.now += timedelta(days=1)  # a new UTC day, a new budget
    assert _review(reviewer, notional=6_000).outcome is ReviewOutcome.APPROVE
    assert len(fake.requests) == 2


def test_a_zero_budget_never_calls(fake, make_reviewer):
    fake.push(verdict("approve"))
    _assert_failed_closed(_review(make_reviewer(daily_token_budget=0)), "BudgetExhausted")
    assert fake.requests == []


def test_a_cached_answer_is_served_even_past_the_budget(fake, make_reviewer):
    fake.push(verdict("approve", input_tokens=5_000, output_tokens=100))
    reviewer = make_reviewer(daily_token_budget=1_000)
    _review(reviewer)
    assert _review(reviewer).cached is True
    assert len(fake.requests) == 1
