"""The market phase behind the treasury regime strategy's tactical mode, and the mode it follows.

``classify`` is pure: one asset's indicators and the sentiment mood give a mode (accumulation,
aggressive, conservative, hedge) and the facts behind it. The valuation proxy is in the spirit of
MVRV-Z: the close's z-score against its mean over ``valuation_period`` bars, the mean price
standing in for the realised price (what holders paid on average). ``ModeFollower`` is the
strategy's only memory: a new mode is followed once it has been classified on ``confirm_bars``
bars in a row, so a phase that flickers between two modes does not churn the portfolio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import StrategyConfig, indicator_values
from core.models import IndicatorValues


class Mode(StrEnum):
    ACCUMULATION = "accumulation"
    AGGRESSIVE = "aggressive"
    CONSERVATIVE = "conservative"
    HEDGE = "hedge"


@dataclass(frozen=True, slots=True)
class Phase:
    """A mode and, for the rationale, the facts that chose it."""

    mode: Mode
    why: str


class PhaseConfig(StrategyConfig):
    """The phase parameters of the treasury regime strategy (its config extends this)."""

    valuation_period: int = Field(
        default=200, ge=10, description="Bars in the valuation proxy (z-score of the close "
        "against its mean, an MVRV-Z stand-in) and in the long-run volatility",
    )
    undervalued_z: float = Field(
        default=-1.0, allow_inf_nan=False, description="Cheap at or below this valuation z-score"
    )
    overvalued_z: float = Field(
        validate_default=True,  # checked against the field before it, default or not
        default=2.0, allow_inf_nan=False, description="Rich at or above this valuation z-score"
    )
    trend_fast: int = Field(default=20, ge=1, description="Fast EMA of the trend, in bars")
    trend_slow: int = Field(
        validate_default=True,  # checked against the field before it, default or not
        default=100, ge=2, description="Slow EMA of the trend, in bars")
    volatility_period: int = Field(
        default=24, ge=2, description="Bars of log returns in the short-run volatility"
    )
    stress_volatility_ratio: float = Field(
        default=2.0, gt=1, allow_inf_nan=False, description="Hedge when the short-run "
        "volatility is this many times the long-run one",
    )
    fear_below: float = Field(
        default=25, ge=0, le=100, description="Mood (0 fear .. 100 greed) at or below which the "
        "market counts as cheap, unless the valuation says rich",
    )
    greed_above: float = Field(
        validate_default=True,  # checked against the field before it, default or not
        default=75, ge=0, le=100, description="Mood at or above which the market counts as "
        "rich, unless the valuation says cheap",
    )
    confirm_bars: int = Field(
        default=3, ge=1, description="Bars in a row a new mode must be seen before the tactical "
        "layer follows it",
    )

    @field_validator("overvalued_z")
    @classmethod
    def _rich_above_cheap(cls, overvalued: float, info: ValidationInfo) -> float:
        cheap = info.data.get("undervalued_z")
        if cheap is not None and overvalued <= cheap:
            raise ValueError(f"overvalued_z ({overvalued:g}) must be above undervalued_z "
                             f"({cheap:g})")
        return overvalued

    @field_validator("trend_slow")
    @classmethod
    def _slow_after_fast(cls, slow: int, info: ValidationInfo) -> int:
        fast = info.data.get("trend_fast")
        if fast is not None and slow <= fast:
            raise ValueError(f"trend_slow ({slow}) must be longer than trend_fast ({fast})")
        return slow

    @field_validator("greed_above")
    @classmethod
    def _greed_above_fear(cls, greed: float, info: ValidationInfo) -> float:
        fear = info.data.get("fear_below")
        if fear is not None and greed <= fear:
            raise ValueError(f"greed_above ({greed:g}) must be above fear_below ({fear:g})")
        return greed

    def specs(self) -> list[IndicatorSpec]:
        """Valuation z-score, fast and slow EMA, short and long volatility, in that order."""
        return [
            IndicatorSpec(name="zscore", period=self.valuation_period),
            IndicatorSpec(name="ema", period=self.trend_fast),
            IndicatorSpec(name="ema", period=self.trend_slow),
            IndicatorSpec(name="volatility", period=self.volatility_period),
            IndicatorSpec(name="volatility", period=self.valuation_period),
        ]


def classify(
    values: IndicatorValues, mood: float, config: PhaseConfig,
    keys: Sequence[str] | None = None,
) -> Phase | None:
    """The mode one asset's indicators and the mood call for; None while warming up.

    In order: a volatility spike hedges; cheap (undervalued, or fearful unless rich) accumulates;
    a downtrend hedges; rich (overvalued, or greedy unless cheap) in an uptrend is conservative;
    an uptrend at fair value is aggressive. ``keys``: those of ``config.specs()`` when the caller
    has them already (building the specs costs more than the rest).
    """
    if keys is None:
        keys = [spec.key for spec in config.specs()]
    found = indicator_values(values, keys)
    if found is None:
        return None
    z, fast, slow, short_vol, long_vol = found
    ratio = short_vol / long_vol if long_vol > 0 else 1.0
    cheap = z <= config.undervalued_z or (mood <= config.fear_below and z < config.overvalued_z)
    rich = z >= config.overvalued_z or (mood >= config.greed_above and z > config.undervalued_z)
    trend = "uptrend" if fast > slow else "downtrend"
    facts = f"valuation z {z:+.2f}, {trend}, volatility ×{ratio:.1f} long-run, mood {mood:.0f}"
    if ratio >= config.stress_volatility_ratio:
        return Phase(Mode.HEDGE, f"volatility spike: {facts}")
    if cheap:
        return Phase(Mode.ACCUMULATION, f"cheap: {facts}")
    if fast <= slow:
        return Phase(Mode.HEDGE, f"downtrend: {facts}")
    if rich:
        return Phase(Mode.CONSERVATIVE, f"rich in an uptrend: {facts}")
    return Phase(Mode.AGGRESSIVE, f"uptrend at fair value: {facts}")


class ModeFollower:
    """The mode the tactical layer follows: switches once a new one is seen ``confirm_bars``
    bars in a row. A fresh follower (a restarted strategy) follows nothing until then."""

    def __init__(self, confirm_bars: int) -> None:
        self.confirm_bars = confirm_bars
        self.mode: Mode | None = None
        self._candidate: Mode | None = None
        self._streak = 0

    def observe(self, phase: Phase | None) -> bool:
        """Count this bar's phase; True when the followed mode changes on this bar."""
        if phase is None or phase.mode is self.mode:
            self._candidate, self._streak = None, 0
            return False
        if phase.mode is self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = phase.mode, 1
        if self._streak < self.confirm_bars:
            return False
        self.mode, self._candidate, self._streak = phase.mode, None, 0
        return True
