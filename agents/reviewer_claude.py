"""The Claude reviewer: asks Claude to approve, veto or escalate, through one forced tool call.

Its verdict can only tighten: the governor applies it with ``core.gate.final_tier``, and no
field of it can raise a limit or skip a person. It fails closed: a timeout, connection error,
rate limit, server error, refusal, or an answer without a valid ``submit_review`` call becomes
ESCALATE (never approve), logged with the error class; only the SDK retries, with backoff, and
only the retryable kinds (429, 5xx, connection errors, timeouts). An identical request is
answered from the local cache, and past the daily token budget no call is made at all.

The API key arrives as a SecretStr and is unwrapped only to build the client: it must never be
logged, stored, returned or put into a message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anthropic
from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from agents.reviewer import ReviewerConfig
from agents.reviewer_prompt import TOOL_NAME, ReviewContext, ToolVerdict, build_request
from core.canonical import sha256_hex
from core.logging import get_logger
from core.models import (
    MarketSnapshot,
    PolicyVerdict,
    PortfolioState,
    Proposal,
    ReviewOutcome,
    ReviewVerdict,
    RiskAssessment,
    SentimentReading,
)
from state.review_cache import CachedAnswer, ReviewCache
from state.tables import utc_now

CLAUDE_REVIEWER = "claude/v1"
FAILED_FLAG = "review_failed"

log = get_logger("quorum.reviewer")

_RETRYABLE = (anthropic.RateLimitError, anthropic.InternalServerError, anthropic.APIConnectionError)
"""What the SDK retries with backoff (APITimeoutError is an APIConnectionError)."""


@dataclass(frozen=True, slots=True)
class _Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class _FailClosed(Exception):
    """A review that must escalate; ``error_class`` names why, ``detail`` holds no secret."""

    def __init__(
        self,
        error_class: str,
        detail: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        usage: _Usage = _Usage(),
    ) -> None:
        super().__init__(error_class)
        self.error_class = error_class
        self.detail = detail
        self.status_code = status_code
        self.request_id = request_id
        self.retryable = retryable
        self.usage = usage


class ClaudeReviewer:
    """Asks Claude for a verdict; escalates whenever it cannot get a valid one."""

    def __init__(
        self,
        config: ReviewerConfig,
        *,
        api_key: SecretStr,
        db_url: str | None = None,
        base_url: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not isinstance(api_key, SecretStr):
            raise TypeError("api_key must be a pydantic SecretStr, so no repr or log shows it")
        self.config = config
        self._client = anthropic.Anthropic(
            api_key=api_key.get_secret_value(),
            base_url=base_url,
            max_retries=config.max_retries,
            timeout=config.timeout_s,
        )
        self._store = ReviewCache.open(db_url)
        self._clock = clock
        self._counts: Counter[str] = Counter()

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
    ) -> ReviewVerdict:
        """Claude's verdict on an allowed proposal; ESCALATE whenever there is no valid one."""
        self._counts["reviewed"] += 1
        if not headlines:  # the feed items sentiment scored, about this asset or the market
            headlines = [h.text for h in sentiment.headlines if h.asset in (None, proposal.asset)]
        context = ReviewContext(proposal, assessment, verdict, snapshot, sentiment, portfolio,
                                tuple(headlines))
        request = build_request(self.config, context)
        decision_id = proposal.decision_id
        try:
            return self._review(request, sha256_hex(request), decision_id)
        except _FailClosed as failure:
            return self._fail_closed(decision_id, failure)
        except SQLAlchemyError as exc:
            failure = _FailClosed(type(exc).__name__, "the review cache or token ledger failed")
            return self._fail_closed(decision_id, failure)

    def health(self) -> dict[str, Any]:
        return {
            "reviewer": CLAUDE_REVIEWER,
            "model": self.config.model,
            "reviewed": self._counts["reviewed"],
            "api_calls": self._counts["api_calls"],
            "cache_hits": self._counts["cache_hits"],
            "failed_closed": self._counts["failed_closed"],
            "tokens_today": self._store.tokens_on(self._today()),
            "daily_token_budget": self.config.daily_token_budget,
        }

    def _review(self, request: dict[str, Any], key: str, decision_id: str) -> ReviewVerdict:
        if self.config.cache:
            hit = self._store.get(key)
            if hit is not None:
                return self._from_cache(hit, decision_id)
        day = self._today()
        spent, budget = self._store.tokens_on(day), self.config.daily_token_budget
        if spent >= budget:
            raise _FailClosed(
                "BudgetExhausted",
                f"{spent:,} of the {budget:,} tokens allowed on {day} (UTC) are spent, "
                "so no call was made",
            )
        message = self._call(request)
        usage = self._usage(message)
        self._store.spend(day, input_tokens=usage.input_tokens,
                          output_tokens=usage.output_tokens, cost_usd=usage.cost_usd)
        request_id = _request_id(message)
        answer = _answer(message, usage=usage, request_id=request_id)
        model = message.model if isinstance(message.model, str) else self.config.model
        if self.config.cache:
            self._store.put(
                key,
                CachedAnswer(model, answer.model_dump(), usage.input_tokens, usage.output_tokens,
                             usage.cost_usd, request_id),
                at=self._clock(),
            )
        return self._verdict(decision_id, answer, model=model, usage=usage,
                             request_id=request_id, cached=False)

    def _call(self, request: dict[str, Any]) -> anthropic.types.Message:
        """One Messages API call; the SDK retries the retryable kinds itself."""
        self._counts["api_calls"] += 1
        try:
            return self._client.messages.create(**request)
        except anthropic.APIStatusError as exc:
            raise _FailClosed(
                type(exc).__name__,
                f"HTTP {exc.status_code} {_error_type(exc)}{self._retried(exc)}",
                status_code=exc.status_code,
                request_id=getattr(exc, "request_id", None),
                retryable=isinstance(exc, _RETRYABLE),
            ) from exc
        except anthropic.APITimeoutError as exc:
            raise _FailClosed(
                type(exc).__name__,
                f"no answer within {self.config.timeout_s:g} s{self._retried(exc)}",
                retryable=True,
            ) from exc
        except anthropic.APIConnectionError as exc:
            raise _FailClosed(
                type(exc).__name__, f"could not reach the API{self._retried(exc)}", retryable=True
            ) from exc
        except anthropic.AnthropicError as exc:
            raise _FailClosed(type(exc).__name__, "the SDK could not read the answer") from exc
        except ValueError as exc:  # the SDK lets a body that is not JSON raise JSONDecodeError
            raise _FailClosed(type(exc).__name__, "the answer is not valid JSON") from exc

    def _retried(self, exc: Exception) -> str:
        if isinstance(exc, _RETRYABLE) and self.config.max_retries:
            return f" (after up to {self.config.max_retries} retries)"
        return ""

    def _usage(self, message: anthropic.types.Message) -> _Usage:
        usage = getattr(message, "usage", None)
        tokens_in = int(getattr(usage, "input_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "output_tokens", 0) or 0)
        cost = (tokens_in * self.config.usd_per_million_input_tokens
                + tokens_out * self.config.usd_per_million_output_tokens) / 1e6
        return _Usage(tokens_in, tokens_out, cost)

    def _from_cache(self, hit: CachedAnswer, decision_id: str) -> ReviewVerdict:
        self._counts["cache_hits"] += 1
        try:
            answer = ToolVerdict.model_validate(hit.answer)
        except ValidationError as exc:
            raise _FailClosed("InvalidCachedAnswer", _describe(exc)) from exc
        return self._verdict(decision_id, answer, model=hit.model, usage=_Usage(),
                             request_id=hit.request_id, cached=True)

    def _verdict(
        self, decision_id: str, answer: ToolVerdict, *, model: str, usage: _Usage,
        request_id: str | None, cached: bool,
    ) -> ReviewVerdict:
        verdict = ReviewVerdict(
            decision_id=decision_id,
            outcome=ReviewOutcome(answer.outcome),
            reasons=tuple(answer.reasons),
            risk_flags=tuple(answer.risk_flags),
            confidence=answer.confidence,
            reviewer=CLAUDE_REVIEWER,
            offline=False,
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
            cached=cached,
            request_id=request_id,
        )
        log.info("reviewer.reviewed", decision_id=decision_id, outcome=verdict.outcome.value,
                 model=model, cached=cached, input_tokens=usage.input_tokens,
                 output_tokens=usage.output_tokens, cost_usd=usage.cost_usd,
                 request_id=request_id)
        return verdict

    def _fail_closed(self, decision_id: str, failure: _FailClosed) -> ReviewVerdict:
        self._counts["failed_closed"] += 1
        usage = failure.usage
        log.warning("reviewer.failed_closed", decision_id=decision_id,
                    error_class=failure.error_class, detail=failure.detail,
                    status_code=failure.status_code, retryable=failure.retryable,
                    request_id=failure.request_id, input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens)
        reason = (f"the reviewer failed closed ({failure.error_class}): {failure.detail}; "
                  "a person must decide")
        return ReviewVerdict(
            decision_id=decision_id,
            outcome=ReviewOutcome.ESCALATE,
            reasons=(reason,),
            risk_flags=(FAILED_FLAG,),
            confidence=0.0,
            reviewer=CLAUDE_REVIEWER,
            offline=True,  # no model's answer decided this outcome
            model=self.config.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
            request_id=failure.request_id,
            error_class=failure.error_class,
        )

    def _today(self) -> str:
        return self._clock().astimezone(UTC).date().isoformat()


def _answer(
    message: anthropic.types.Message, *, usage: _Usage, request_id: str | None
) -> ToolVerdict:
    """The validated tool input of the one ``submit_review`` call in ``message``."""

    def fail(error_class: str, detail: str) -> _FailClosed:
        return _FailClosed(error_class, detail, request_id=request_id, usage=usage)

    stop_reason = getattr(message, "stop_reason", None)
    if stop_reason == "refusal":
        raise fail("Refusal", "the model refused to review (stop_reason refusal)")
    content = message.content if isinstance(message.content, list) else []
    calls = [block for block in content
             if getattr(block, "type", None) == "tool_use"
             and getattr(block, "name", None) == TOOL_NAME]
    if not calls:
        raise fail("NoToolUse", f"the answer has no {TOOL_NAME} call (stop_reason {stop_reason})")
    if stop_reason in ("max_tokens", "model_context_window_exceeded"):
        raise fail("Truncated", f"the answer was cut off (stop_reason {stop_reason})")
    if len(calls) > 1:
        raise fail("InvalidToolInput", f"the answer calls {TOOL_NAME} {len(calls)} times")
    try:
        return ToolVerdict.model_validate(calls[0].input)
    except ValidationError as exc:
        raise fail("InvalidToolInput", _describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    """Which fields of an answer were wrong and how, without echoing the answer."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or 'input'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    ]
    return ("invalid tool input: " + "; ".join(problems))[:500]


def _error_type(exc: anthropic.APIStatusError) -> str:
    """``error.type`` of an API error body (e.g. rate_limit_error), or 'error'."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        kind = body["error"].get("type")
        if isinstance(kind, str) and kind.replace("_", "").isalnum():
            return kind
    return "error"


def _request_id(message: anthropic.types.Message) -> str | None:
    request_id = getattr(message, "_request_id", None)
    return request_id if isinstance(request_id, str) else None
