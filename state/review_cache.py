"""The Claude reviewer's local memory: answers by request hash, and tokens spent per UTC day.

An identical review request (same sha256 of its canonical JSON) is answered from here instead
of the API. Only answers that passed validation are stored, never failures. The daily ledger is
what the token budget is checked against. Rows hold JSON text and numbers, never a key or a
header; nothing here calls the API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Text, create_engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, SQLModel

from core.canonical import canonical_bytes
from state.db import make_engine
from state.tables import UtcDateTime


class ReviewCacheRow(SQLModel, table=True):
    """One validated answer of the model, keyed by the sha256 of the request that got it."""

    __tablename__ = "review_cache"

    request_sha256: str = Field(primary_key=True, max_length=64)
    model: str
    answer_json: str = Field(sa_type=Text, description="Canonical JSON of the tool input")
    input_tokens: int
    output_tokens: int
    cost_usd: float
    request_id: str | None = None
    created_at: datetime = Field(sa_type=UtcDateTime)


class ReviewUsageRow(SQLModel, table=True):
    """Tokens and money the reviewer spent on one UTC day, over every call that was billed."""

    __tablename__ = "review_usage"

    day: str = Field(primary_key=True, max_length=10, description="YYYY-MM-DD, UTC")
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


_CACHE = ReviewCacheRow.__table__
_USAGE = ReviewUsageRow.__table__


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    model: str
    answer: dict[str, Any]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    request_id: str | None


class ReviewCache:
    """Cache and daily ledger on one engine (the run's database, or memory)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        SQLModel.metadata.create_all(engine, tables=[_CACHE, _USAGE])

    @classmethod
    def open(cls, db_url: str | None) -> ReviewCache:
        """On the database at ``db_url``; in memory (this process only) when it is None."""
        if db_url:
            return cls(make_engine(db_url))
        return cls(create_engine("sqlite://", poolclass=StaticPool,
                                 connect_args={"check_same_thread": False}))

    def get(self, request_sha256: str) -> CachedAnswer | None:
        """The stored answer to this request, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_CACHE).where(_CACHE.c.request_sha256 == request_sha256)
            ).mappings().first()
        if row is None:
            return None
        return CachedAnswer(
            model=row["model"],
            answer=json.loads(row["answer_json"]),
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cost_usd=row["cost_usd"],
            request_id=row["request_id"],
        )

    def put(self, request_sha256: str, answer: CachedAnswer, *, at: datetime) -> None:
        """Store a validated answer; a second answer to the same request keeps the first."""
        row = {
            "request_sha256": request_sha256,
            "model": answer.model,
            "answer_json": canonical_bytes(answer.answer).decode("utf-8"),
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cost_usd": answer.cost_usd,
            "request_id": answer.request_id,
            "created_at": at,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(_CACHE.insert(), row)
        except IntegrityError:
            # The same request was answered and stored meanwhile: the first answer stands.
            if self.get(request_sha256) is None:
                raise

    def spend(self, day: str, *, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        """Add one billed call to the day's ledger."""
        added = {
            "calls": _USAGE.c.calls + 1,
            "input_tokens": _USAGE.c.input_tokens + input_tokens,
            "output_tokens": _USAGE.c.output_tokens + output_tokens,
            "cost_usd": _USAGE.c.cost_usd + cost_usd,
        }
        first = {"day": day, "calls": 1, "input_tokens": input_tokens,
                 "output_tokens": output_tokens, "cost_usd": cost_usd}
        for _ in range(2):  # update, else insert; if another writer inserted first, update
            with self._engine.begin() as conn:
                if conn.execute(update(_USAGE).where(_USAGE.c.day == day).values(added)).rowcount:
                    return
            try:
                with self._engine.begin() as conn:
                    conn.execute(_USAGE.insert(), first)
                return
            except IntegrityError:
                continue
        raise RuntimeError(f"review usage for {day} could not be recorded")

    def tokens_on(self, day: str) -> int:
        """Input plus output tokens spent on ``day`` (YYYY-MM-DD, UTC)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_USAGE.c.input_tokens, _USAGE.c.output_tokens).where(_USAGE.c.day == day)
            ).first()
        return 0 if row is None else int(row[0] + row[1])

    def close(self) -> None:
        self._engine.dispose()
