"""The sentiment agent: scores headlines published up to the tick with a word lexicon.

Headlines come from a JSONL file, one ``{"ts", "asset", "text"}`` object a line; ``asset`` null
means market-wide. Text is untrusted data from outside: it is only tokenised and looked up in
``LEXICON``, never followed, executed or passed on. Nothing published after the tick's time is
ever read, so backtests cannot look ahead.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

import core.feeds
from core.config_model import ConfigModel
from core.errors import BadDataError
from core.models import Headline, SentimentReading

DEFAULT_HEADLINES = Path(core.feeds.__file__).parent / "data" / "headlines_sample.jsonl"
"""The shipped sample: made-up headlines about BTC, ETH and the market, January 2024."""

LEXICON: dict[str, float] = {
    # bullish
    "surge": 1.0, "surges": 1.0, "soar": 1.0, "soars": 1.0, "rally": 0.9, "rallies": 0.9,
    "jump": 0.6, "jumps": 0.6, "gain": 0.5, "gains": 0.5, "rise": 0.5, "rises": 0.5,
    "climb": 0.5, "climbs": 0.5, "rebound": 0.6, "rebounds": 0.6, "recovery": 0.5,
    "breakout": 0.8, "record high": 1.0, "all time high": 1.0, "bullish": 1.0, "bull": 0.6,
    "adoption": 0.7, "approval": 0.9, "approved": 0.9, "approves": 0.9, "inflows": 0.8,
    "inflow": 0.8, "upgrade": 0.6, "partnership": 0.6, "launch": 0.4, "launches": 0.4,
    "milestone": 0.5, "growth": 0.5, "strong": 0.5, "optimism": 0.7, "optimistic": 0.7,
    "accumulation": 0.5, "accumulate": 0.5, "buying": 0.4, "demand": 0.4, "outperforms": 0.6,
    "upbeat": 0.6, "support": 0.3, "secure": 0.3, "institutional": 0.3, "boost": 0.6,
    "boosts": 0.6,
    # bearish
    "hack": -1.0, "hacked": -1.0, "exploit": -1.0, "exploited": -1.0, "crash": -1.0,
    "crashes": -1.0, "ban": -0.9, "bans": -0.9, "banned": -0.9, "lawsuit": -0.8, "sues": -0.8,
    "plunge": -1.0, "plunges": -1.0, "bearish": -1.0, "bear": -0.6, "liquidation": -0.8,
    "liquidations": -0.8, "outflows": -0.8, "outflow": -0.8, "delisting": -0.9,
    "delists": -0.9, "drop": -0.6, "drops": -0.6, "fall": -0.5, "falls": -0.5, "slide": -0.6,
    "slides": -0.6, "selloff": -0.8, "sell off": -0.8, "dump": -0.8, "fear": -0.7,
    "panic": -0.9, "fraud": -1.0, "scam": -1.0, "rejected": -0.8, "rejects": -0.8,
    "delay": -0.4, "delays": -0.4, "outage": -0.7, "investigation": -0.6, "probe": -0.6,
    "crackdown": -0.8, "weak": -0.5, "losses": -0.6, "insolvency": -1.0, "bankruptcy": -1.0,
    "record low": -1.0, "warning": -0.5, "volatility": -0.2, "uncertainty": -0.4,
}
"""Word or phrase (lower case) → weight: positive bullish, negative bearish."""

NEGATIONS = frozenset(
    {"not", "no", "never", "without", "nor", "isn't", "aren't", "wasn't", "won't", "don't",
     "doesn't", "didn't", "can't", "cannot"}
)
"""A negation flips the lexicon term right after it, and only that one."""

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_LONGEST_PHRASE = max(len(term.split()) for term in LEXICON)


class SentimentConfig(ConfigModel):
    """Where the headlines come from and how fast they fade."""

    headlines: Path | None = Field(
        default=None, description="JSONL file of headlines; None uses the shipped sample"
    )
    half_life_hours: float = Field(
        default=24, gt=0, allow_inf_nan=False, description="Age at which an item weighs half"
    )
    lookback_hours: float = Field(
        default=72, gt=0, allow_inf_nan=False, description="Items older than this are ignored"
    )
    headlines_kept: int = Field(
        default=8, ge=0, le=100, description="Latest items each reading carries for the reviewer"
    )


def score_text(text: str) -> float:
    """Lexicon score of one text in [-1, 1]: tanh of the summed weights, negations applied."""
    tokens = _TOKEN.findall(text.lower().replace("\u2019", "'"))
    total = 0.0
    negate = False
    i = 0
    while i < len(tokens):
        if tokens[i] in NEGATIONS:
            negate = True
            i += 1
            continue
        weight, length = _match(tokens, i)
        total += -weight if negate else weight
        negate = False
        i += length
    return math.tanh(total)


def _match(tokens: list[str], start: int) -> tuple[float, int]:
    for length in range(min(_LONGEST_PHRASE, len(tokens) - start), 0, -1):
        weight = LEXICON.get(" ".join(tokens[start : start + length]))
        if weight is not None:
            return weight, length
    return 0.0, 1


@dataclass(frozen=True, slots=True)
class _Item:
    epoch_seconds: float
    asset: str | None
    score: float
    text: str


class SentimentAgent:
    """Reads a headline file once; scores the window before each tick on demand."""

    def __init__(self, config: SentimentConfig, *, assets: Sequence[str]) -> None:
        self.config = config
        self.assets = tuple(assets)
        self.path = config.headlines or DEFAULT_HEADLINES
        items = sorted(_load(self.path), key=lambda item: item.epoch_seconds)
        self._items = items
        self._times = [item.epoch_seconds for item in items]
        self._headlines: list[Headline | None] = [None] * len(items)  # built when first shown
        self.scored = 0

    def score(self, *, tick: int, ts: datetime) -> SentimentReading:
        """Decay-weighted scores of the items published in (ts - lookback, ts], never after ts."""
        if ts.tzinfo is None:
            raise ValueError("ts must be timezone-aware")
        now = ts.timestamp()
        start = bisect_left(self._times, now - self.config.lookback_hours * 3600.0)
        stop = bisect_right(self._times, now)
        sums: dict[str | None, list[float]] = {}  # asset → [weighted score, weight]
        half_life_hours = self.config.half_life_hours
        for item in self._items[start:stop]:
            weight = 0.5 ** ((now - item.epoch_seconds) / 3600.0 / half_life_hours)
            acc = sums.get(item.asset)
            if acc is None:
                acc = sums[item.asset] = [0.0, 0.0]
            acc[0] += weight * item.score
            acc[1] += weight
        market = sums.get(None, [0.0, 0.0])
        # An asset without items of its own scores the market-wide items alone: its own sums are
        # [0.0, 0.0] and 0.0 + x is x for every sum here (they start at +0.0, and a float sum
        # starting there is never -0.0), so one mean serves them all. Dict order stays
        # self.assets': assigning to a key already present keeps its place.
        per_asset = dict.fromkeys(self.assets, _mean(market[0], market[1]))
        for asset, own in sums.items():
            if asset is not None and asset in per_asset:
                per_asset[asset] = _mean(own[0] + market[0], own[1] + market[1])
        overall = _mean(sum(acc[0] for acc in sums.values()), sum(acc[1] for acc in sums.values()))
        self.scored += 1
        return SentimentReading(
            tick=tick,
            ts=ts,
            per_asset=per_asset,
            mood=50.0 * (1.0 + overall),
            items_scored=stop - start,
            headlines=self._latest(start, stop),
        )

    def _latest(self, start: int, stop: int) -> tuple[Headline, ...]:
        """The last ``headlines_kept`` items of the window, oldest first; each item's Headline is
        built once and shared by every reading that shows it (Headline is frozen)."""
        latest = []
        cache = self._headlines
        for index in range(max(start, stop - self.config.headlines_kept), stop):
            headline = cache[index]
            if headline is None:
                item = self._items[index]
                headline = cache[index] = Headline(
                    ts=datetime.fromtimestamp(item.epoch_seconds, UTC), asset=item.asset,
                    text=item.text,
                )
            latest.append(headline)
        return tuple(latest)

    def health(self) -> dict[str, Any]:
        return {"scored": self.scored, "headlines": len(self._items), "source": self.path.name}


def _mean(weighted: float, weight: float) -> float:
    if weight <= 0.0:
        return 0.0
    return min(1.0, max(-1.0, weighted / weight))


def _load(path: Path) -> list[_Item]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadDataError(str(path), f"cannot read headlines: {exc}") from exc
    items = []
    for row, line in enumerate(lines, start=1):
        if line.strip():
            items.append(_parse(line, path=path, row=row))
    return items


def _parse(line: str, *, path: Path, row: int) -> _Item:
    def bad(problem: str) -> BadDataError:
        return BadDataError(str(path), problem, row=row)

    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise bad(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(record, dict):
        raise bad(f"expected a JSON object, got {type(record).__name__}")
    for name in ("ts", "asset", "text"):
        if name not in record:
            raise bad(f"missing field {name!r}")
    ts, asset, text = record["ts"], record["asset"], record["text"]
    if not isinstance(text, str):
        raise bad(f"text must be a string, got {type(text).__name__}")
    if asset is not None and not (isinstance(asset, str) and asset.strip()):
        raise bad(f"asset must be a symbol or null, got {asset!r}")
    return _Item(
        epoch_seconds=_parse_ts(ts, bad).timestamp(),
        asset=asset.strip().upper() if asset is not None else None,
        score=score_text(text),
        text=text,
    )


def _parse_ts(value: object, bad) -> datetime:
    if not isinstance(value, str):
        raise bad(f"bad timestamp {value!r}: expected an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad(f"bad timestamp {value!r}: expected ISO 8601 like 2024-01-03T09:00:00Z") from None
    if parsed.tzinfo is None:
        raise bad(f"bad timestamp {value!r}: no timezone (add Z for UTC)")
    return parsed.astimezone(UTC)
