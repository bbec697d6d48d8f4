"""The strategy agent: runs every enabled strategy plugin and turns their signals into Proposals.

A plugin's exception never takes the tick down: it becomes a StrategyError naming the plugin.
Plugins get copies of nothing mutable: every input is a frozen model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.compute import IndicatorSpec
from agents.strategies.base import Signal, Strategy, StrategyConfig, registry
from core.errors import StrategyError
from core.models import (
    CASH,
    Action,
    Deposit,
    MarketSnapshot,
    PortfolioState,
    Proposal,
    SentimentReading,
    Side,
    Swap,
    Withdraw,
)


class StrategiesConfig(BaseModel):
    """`[strategies]`: which plugins run, and a table of parameters per plugin by its name."""

    model_config = ConfigDict(frozen=True, extra="allow")

    enabled: tuple[str, ...] = Field(
        default=("sma_cross",), description="Strategy plugins to run, by name"
    )

    @model_validator(mode="after")
    def _known(self) -> StrategiesConfig:
        known = registry()
        repeated = sorted({name for name in self.enabled if self.enabled.count(name) > 1})
        if repeated:
            raise ValueError(f"strategies enabled twice: {', '.join(repeated)}")
        for name in (*self.enabled, *(self.model_extra or {})):
            if name not in known:
                raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(known))}")
        for name, table in (self.model_extra or {}).items():
            if not isinstance(table, (dict, StrategyConfig)):
                raise ValueError(f"[strategies.{name}] must be a table of parameters")
            try:
                self.model_extra[name] = known[name].config_model.model_validate(
                    table if isinstance(table, dict) else table.model_dump()
                )
            except ValidationError as exc:
                raise _under(name, exc) from None
        return self

    def params(self, name: str) -> StrategyConfig:
        """The validated config of one plugin (its defaults when no table was given)."""
        extra = self.model_extra or {}
        return extra.get(name) or registry()[name].config_model()


def _under(name: str, exc: ValidationError) -> ValidationError:
    """The same errors, located under the plugin's table, so messages name `sma_cross.fast`."""
    return ValidationError.from_exception_data(
        "StrategiesConfig",
        [
            {"type": e["type"], "loc": (name, *e["loc"]), "input": e["input"],
             **({"ctx": e["ctx"]} if "ctx" in e else {})}
            for e in exc.errors()
        ],
    )


def build_strategies(config: StrategiesConfig) -> list[Strategy]:
    known = registry()
    return [known[name](config.params(name)) for name in config.enabled]


class StrategyAgent:
    """Runs the enabled strategies; numbers each proposal with a decision id."""

    def __init__(self, config: StrategiesConfig, *, run_id: str) -> None:
        self.config = config
        self.run_id = run_id
        self.strategies = build_strategies(config)
        self.proposed = 0

    def required_indicators(self) -> list[IndicatorSpec]:
        specs: dict[str, IndicatorSpec] = {}
        for strategy in self.strategies:
            for spec in strategy.required_indicators():
                specs[spec.key] = spec
        return list(specs.values())

    def propose(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Proposal]:
        proposals = []
        for strategy in self.strategies:
            try:
                signals = strategy.signals(snapshot, sentiment, portfolio)
            except Exception as exc:  # a plugin is code we do not control
                raise StrategyError(f"strategy {strategy.name!r} failed: {exc!r}") from exc
            for signal in signals:
                if signal.notional_usd <= 0:
                    continue
                proposals.append(
                    Proposal(
                        decision_id=f"{self.run_id}-{snapshot.tick:06d}-{len(proposals)}",
                        tick=snapshot.tick,
                        ts=snapshot.ts,
                        strategy=strategy.name,
                        action=_action(signal),
                        notional_usd=signal.notional_usd,
                        rationale=signal.rationale,
                        confidence=signal.confidence,
                        quantity=signal.quantity,
                    )
                )
        self.proposed += len(proposals)
        return proposals

    def health(self) -> dict[str, Any]:
        return {"strategies": [s.name for s in self.strategies], "proposed": self.proposed}


def _action(signal: Signal) -> Action:
    """A swap against cash, or a deposit into / withdrawal from the signal's lending protocol."""
    if signal.protocol is not None:
        kind = Deposit if signal.side is Side.BUY else Withdraw
        return kind(asset=signal.asset, protocol=signal.protocol)
    if signal.side is Side.BUY:
        return Swap(sell=CASH, buy=signal.asset)
    return Swap(sell=signal.asset, buy=CASH)
