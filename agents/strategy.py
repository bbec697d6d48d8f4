"""The strategy agent: runs every enabled strategy plugin and turns their signals into Proposals.

A plugin's exception never takes the tick down: it becomes a StrategyError naming the plugin.
Plugins get copies of nothing mutable: every input is a frozen model.

Each strategy has its own book: the treasury keeps each asset's holding in lots, one per
strategy whose buys filled it. With one strategy enabled it sees the whole portfolio; with
several, each sees the cash and only its own lots as its positions (so its equity is the cash
plus its own holdings), and never sells or exits what another bought.

Exits (agents/exits.py) are proposed here too, before the plugins' proposals, from each
strategy's `exits` config and its lots; a strategy's own proposal for an asset it is exiting
this tick is dropped (the exit wins). A lot of no strategy (what a live run's wallet held at
the start) is the one strategy's when only one runs; otherwise it gets no exits, no strategy
sells it, and it is counted in health().
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.exits import exit_proposals
from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import Signal, Strategy, StrategyConfig, registry
from agents.treasury import OpenPosition
from core.errors import ConfigError, StrategyError
from core.models import (
    CASH,
    Action,
    Deposit,
    MarketSnapshot,
    PortfolioState,
    Position,
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
                raise ValueError(  # noqa: TRY004  (pydantic reports ValueError, not TypeError)
                    f"[strategies.{name}] must be a table of parameters"
                )
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
        self.unattributed = 0  # times an open lot was no running strategy's
        self.exited: dict[tuple[str, str], int] = {}  # (strategy, asset) -> tick of its last exit

    def required_indicators(self) -> list[IndicatorSpec]:
        specs: dict[str, IndicatorSpec] = {}
        for strategy in self.strategies:
            for spec in strategy.required_indicators():
                specs[spec.key] = spec
        return list(specs.values())

    def check_priced(self, assets: tuple[str, ...]) -> None:
        """ConfigError naming the key when a strategy's config names an asset that ``assets``
        (the market data's) lacks: it would be left out of the run without a word."""
        for strategy in self.strategies:
            for key, named in strategy.named_assets().items():
                missing = [asset for asset in named if asset not in assets]
                if missing:
                    raise ConfigError(
                        f"strategies.{strategy.name}.{key}: {', '.join(missing)} "
                        f"{'is' if len(missing) == 1 else 'are'} not in the market data "
                        f"(it has {', '.join(assets)})")

    def warnings(self, *, cash_usd: float, entry_cap_usd: float,
                 volatile_cap: float | None = None) -> list[tuple[str, str]]:
        """(strategy, warning) for each strategy's config warning in a run from ``cash_usd``
        whose entries the risk agent caps at ``entry_cap_usd``, under a policy that keeps
        volatile assets within ``volatile_cap`` of equity (None: no such rule)."""
        found = [(strategy.name, warning) for strategy in self.strategies
                 for warning in strategy.warnings(cash_usd=cash_usd, entry_cap_usd=entry_cap_usd)]
        for strategy in self.strategies:
            aimed = strategy.volatile_share()
            if volatile_cap is not None and aimed is not None and aimed[0] > volatile_cap + 1e-9:
                found.append((strategy.name, (
                    f"it aims for up to {aimed[0]:.0%} of equity in volatile assets "
                    f"({aimed[1]}), above the policy's max_volatile_share ({volatile_cap:.0%}): "
                    "past that, the policy denies its buys on every bar it asks")))
        return found

    def propose(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
        positions: list[OpenPosition] | None = None,
    ) -> list[Proposal]:
        """Exits for ``positions`` (the treasury's open lots) first, then each plugin's."""
        positions = positions or []
        proposals = self._exits(snapshot, positions)
        exiting = {(proposal.strategy, proposal.asset) for proposal in proposals}
        for proposal in proposals:
            self.exited[(proposal.strategy, proposal.asset)] = snapshot.tick
        shared = len(self.strategies) > 1
        for strategy in self.strategies:
            seen = book(portfolio, positions, strategy.name) if shared else portfolio
            try:
                signals = strategy.signals(snapshot, sentiment, seen)
            except Exception as exc:  # a plugin is code we do not control
                raise StrategyError(f"strategy {strategy.name!r} failed: {exc!r}") from exc
            for signal in signals:
                if signal.notional_usd <= 0:
                    continue
                if signal.protocol is None and (strategy.name, signal.asset) in exiting:
                    continue  # the exit sells the whole lot: no sale of part, no new buy
                if signal.side is Side.BUY and self._cooling(strategy.name, signal.asset,
                                                             snapshot.tick):
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

    def _cooling(self, strategy: str, asset: str, tick: int) -> bool:
        """True while ``strategy``'s exit of ``asset`` is within its exits.cooldown_bars."""
        exited = self.exited.get((strategy, asset))
        if exited is None:
            return False
        cooldown = self.config.params(strategy).exits.cooldown_bars
        return cooldown is not None and tick - exited <= cooldown

    def active_bars(self, indicators: dict[str, np.ndarray]) -> np.ndarray | None:
        """Bars where some plugin may act (core/event_loop.py), or None: any bar."""
        active = None
        for strategy in self.strategies:
            mine = strategy.active_bars(indicators)
            if mine is None:
                return None
            active = mine if active is None else active | mine
        return active

    def exits_active(self) -> bool:
        """True when some strategy has an exit trigger: open positions need every bar."""
        return any(self.config.params(s.name).exits.active for s in self.strategies)

    def _exits(self, snapshot: MarketSnapshot, positions: list[OpenPosition]) -> list[Proposal]:
        configs = {s.name: self.config.params(s.name).exits for s in self.strategies}
        if not any(config.active for config in configs.values()):
            return []
        if len(self.strategies) == 1:  # it sees, and exits, each asset's lots as one position
            positions = merged(positions)
        return exit_proposals(
            positions,
            snapshot,
            strategy_of=self._owner,
            configs=configs,
            decision_id=lambda n: f"{self.run_id}-{snapshot.tick:06d}-{n}",
        )

    def _owner(self, position: OpenPosition) -> str | None:
        """The running strategy whose lot it is; the one strategy's when only one runs."""
        if len(self.strategies) == 1:
            return self.strategies[0].name
        names = {strategy.name for strategy in self.strategies}
        if position.strategy in names:
            return position.strategy
        self.unattributed += 1
        return None

    def health(self) -> dict[str, Any]:
        health: dict[str, Any] = {"strategies": [s.name for s in self.strategies],
                                  "proposed": self.proposed}
        if self.unattributed:
            health["unattributed_positions"] = self.unattributed
        return health


def book(portfolio: PortfolioState, lots: list[OpenPosition], strategy: str) -> PortfolioState:
    """The portfolio as ``strategy`` sees it when it runs with others: the cash, and its own
    lots as its positions."""
    own = {lot.asset: Position(asset=lot.asset, quantity=lot.quantity,
                               avg_entry_price=lot.entry_price, opened_at=lot.opened_at)
           for lot in lots if lot.strategy == strategy}
    return portfolio.model_copy(update={"positions": own})


def merged(lots: list[OpenPosition]) -> list[OpenPosition]:
    """Each asset's lots as one position (the first lot's decision and entry tick, the highest
    peak, the average entry); an asset held in one lot is left as it is."""
    by_asset: dict[str, list[OpenPosition]] = {}
    for lot in lots:
        by_asset.setdefault(lot.asset, []).append(lot)
    if all(len(group) == 1 for group in by_asset.values()):
        return lots
    positions = []
    for group in by_asset.values():
        if len(group) == 1:
            positions.extend(group)
            continue
        quantity = sum(lot.quantity for lot in group)
        first = min(group, key=lambda lot: lot.entry_tick)
        positions.append(replace(
            first, quantity=quantity, strategy=None,
            entry_price=sum(lot.quantity * lot.entry_price for lot in group) / quantity,
            peak_price=max(lot.peak_price for lot in group)))
    return positions


def _action(signal: Signal) -> Action:
    """A swap against cash, or a deposit into / withdrawal from the signal's lending protocol."""
    if signal.protocol is not None:
        kind = Deposit if signal.side is Side.BUY else Withdraw
        return kind(asset=signal.asset, protocol=signal.protocol, receipt=signal.receipt)
    if signal.side is Side.BUY:
        return Swap(sell=CASH, buy=signal.asset)
    return Swap(sell=signal.asset, buy=CASH)
