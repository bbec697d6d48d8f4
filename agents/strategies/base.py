"""The strategy plugin seam: a small base class, a typed config, a registry by name.

A strategy sees one MarketSnapshot, the SentimentReading and the PortfolioState, and returns
Signals. It never sizes beyond a request, never touches money, and never sees the future. It does
no I/O and reads no clock; what it remembers between ticks (a grid's centre) comes only from the
snapshots it has already been shown, and a fresh instance must start cleanly without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
from pydantic import Field

from agents.indicator_spec import IndicatorSpec
from core.config_model import ConfigModel
from core.models import (
    IndicatorValues,
    MarketSnapshot,
    PortfolioState,
    SentimentReading,
    Side,
)


class ExitsConfig(ConfigModel):
    """`exits` of one strategy: when the positions it opened are closed (agents/exits.py).

    Every trigger is optional and off when absent. Levels are judged at the close of a bar and
    the exit fills at the next bar's open, like every order.
    """

    stop_loss: float | None = Field(
        default=None, gt=0, lt=1, allow_inf_nan=False,
        description="Sell when the close falls this fraction below the average entry price",
    )
    take_profit: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="Sell when the close rises this fraction above the average entry price",
    )
    trailing_stop: float | None = Field(
        default=None, gt=0, lt=1, allow_inf_nan=False,
        description="Sell when the close falls this fraction below the highest close since entry",
    )
    max_hold_bars: int | None = Field(
        default=None, gt=0,
        description="Sell at the close of the position's n-th bar (its entry bar counts as one)",
    )
    cooldown_bars: int | None = Field(
        default=None, gt=0,
        description="After an exit, buy none of the asset for this many bars after the exit's "
        "bar (that bar never buys it)",
    )

    def __str__(self) -> str:
        """As a TOML inline table (how `quorum strategies list` shows the default)."""
        values = [f"{k} = {v:g}" for k, v in self.model_dump().items() if v is not None]
        return "{ " + ", ".join(values) + " }" if values else "{}"

    @property
    def active(self) -> bool:
        """True when at least one trigger is set (a cooldown alone sells nothing)."""
        return any(
            v is not None
            for v in (self.stop_loss, self.take_profit, self.trailing_stop, self.max_hold_bars)
        )


class StrategyConfig(ConfigModel):
    """Base of every strategy's config: frozen, unknown keys are errors."""

    exits: ExitsConfig = Field(
        default=ExitsConfig(),
        description="Stop-loss, take-profit, trailing stop and time exit for this strategy's positions",
    )


@dataclass(frozen=True, slots=True)
class Signal:
    """What a strategy wants; the strategy agent turns it into a Proposal."""

    asset: str
    side: Side
    confidence: float
    rationale: str
    notional_usd: float
    quantity: float | None = None
    protocol: str | None = None
    """A lending protocol: BUY deposits ``asset`` into it, SELL withdraws it; None: a swap."""
    receipt: str | None = None
    """With ``protocol``: the symbol the treasury books the deposit under (Aave's aUSDC)."""


class Strategy(ABC):
    """Base of every strategy plugin."""

    name: ClassVar[str]
    config_model: ClassVar[type[StrategyConfig]]

    def __init__(self, config: StrategyConfig) -> None:
        self.config = config

    @abstractmethod
    def required_indicators(self) -> list[IndicatorSpec]:
        """The indicators MarketIntel must put in every snapshot for this strategy."""

    @cached_property
    def indicator_keys(self) -> tuple[str, ...]:
        """The snapshot keys of ``required_indicators()``, in order: worked out once, as the
        config is frozen (building the specs costs microseconds on every woken bar)."""
        return tuple(spec.key for spec in self.required_indicators())

    @abstractmethod
    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        """Signals for this tick; an empty list when there is nothing to do."""

    def active_bars(self, indicators: dict[str, np.ndarray]) -> np.ndarray | None:
        """Bars on which ``signals`` may return anything, from whole-feed arrays (assets ×
        bars): the indicators keyed like snapshot indicators, and the closes under ``close``.
        True where it may act. None (the default) means any bar: only a strategy whose signals
        depend on nothing but that bar's and the previous bar's indicators, the bar's close and
        index, and the portfolio (no state kept from bar to bar) may narrow it. A backtest runs
        the pipeline only on such bars (core/event_loop.py); a superset is always safe."""
        return None

    def named_assets(self) -> dict[str, tuple[str, ...]]:
        """The assets its config names, by config key, that the market data must price
        (``{"tactical_assets": ("BTC", "ETH")}``); checked before a run starts."""
        return {}

    def volatile_share(self) -> tuple[float, str] | None:
        """The largest share of equity its config ever aims to hold in volatile assets together,
        and the config keys that set it, when the config bounds it (a strategy that re-aims at
        its target every bar). A run warns when the policy's max_volatile_share is lower: every
        bar it asks for more, the policy denies it."""
        return None

    def warnings(self, *, cash_usd: float, entry_cap_usd: float) -> list[str]:
        """What in its config a run starting with ``cash_usd`` cannot follow: a buy bigger than
        all the cash, or than ``entry_cap_usd`` (what the risk agent lets one entry use at the
        start: [risk] fraction of the equity). Said before a run starts."""
        return []


def entry_cut(key: str, size_usd: float, entry_cap_usd: float) -> str:
    """The warning for a fixed buy size the risk agent will cut."""
    return (f"{key} ({size_usd:,.2f}) is more than one entry may use at the start "
            f"({entry_cap_usd:,.2f}, [risk] fraction of the equity): each buy is cut to that")


def indicator_values(values: IndicatorValues, keys: Sequence[str]) -> list[float] | None:
    """The values of ``keys`` in order, or None while any of them is still warming up."""
    found = [values.get(key) for key in keys]
    return None if any(value is None for value in found) else found  # type: ignore[return-value]


_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a strategy loadable by its name."""
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Strategy]]:
    """Every known strategy by name (importing the plugin modules first)."""
    from agents import strategies  # noqa: F401  (the package imports each plugin)

    return dict(_REGISTRY)
