"""Position exits: stop-loss, take-profit, trailing stop and time exit, as sell proposals.

Pure and deterministic: given the treasury's open positions, this tick's snapshot and each
strategy's ExitsConfig, it returns the exits to propose. It does no I/O, reads no clock and
never touches money: an exit is a Proposal like any other and passes risk, policy and review
(selling for cash reduces risk, so the kill switch lets it through).

The convention, the same as every order's: levels are judged at the close of bar t (never its
low or high, so an intrabar touch that recovers by the close does not trigger) and the exit
fills at the open of bar t+1. The peak of a trailing stop is the highest close marked since
entry (or the entry fill's price, if higher). A position is held for t − entry_tick + 1 bars at
the close of bar t: the bar whose open filled the entry counts as one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agents.strategies.base import ExitsConfig
from agents.treasury import OpenPosition
from core.models import CASH, MarketSnapshot, Proposal, Swap

LEVEL_TOLERANCE = 1e-12
"""Relative slack so a close exactly on a level triggers despite float rounding (95.0 vs 95.00…01)."""


def triggers(
    position: OpenPosition, *, close: float, tick: int, config: ExitsConfig
) -> list[str]:
    """Why ``position`` must be closed at this bar's ``close``: one line per trigger that fired."""
    fired = []
    entry, peak = position.entry_price, position.peak_price
    if config.stop_loss is not None:
        level = entry * (1 - config.stop_loss)
        if close <= level * (1 + LEVEL_TOLERANCE):
            fired.append(f"stop-loss: close {_n(close)} <= {_n(level)} "
                         f"(entry {_n(entry)} − {_pct(config.stop_loss)})")
    if config.trailing_stop is not None:
        level = peak * (1 - config.trailing_stop)
        if close <= level * (1 + LEVEL_TOLERANCE):
            fired.append(f"trailing stop: close {_n(close)} <= {_n(level)} "
                         f"(peak {_n(peak)} − {_pct(config.trailing_stop)})")
    if config.take_profit is not None:
        level = entry * (1 + config.take_profit)
        if close >= level * (1 - LEVEL_TOLERANCE):
            fired.append(f"take-profit: close {_n(close)} >= {_n(level)} "
                         f"(entry {_n(entry)} + {_pct(config.take_profit)})")
    if config.max_hold_bars is not None:
        held = tick - position.entry_tick + 1
        if held >= config.max_hold_bars:
            fired.append(f"time exit: held {held} bars >= max_hold_bars {config.max_hold_bars} "
                         f"(entered at tick {position.entry_tick})")
    return fired


def exit_proposals(
    positions: list[OpenPosition],
    snapshot: MarketSnapshot,
    *,
    strategy_of: Callable[[OpenPosition], str | None],
    configs: Mapping[str, ExitsConfig],
    decision_id: Callable[[int], str],
) -> list[Proposal]:
    """Sell-everything proposals for the positions whose opening strategy's exits fired.

    ``strategy_of`` names the strategy that opened a position (None: unknown, no exits);
    ``decision_id(n)`` numbers the n-th proposal of this tick.
    """
    proposals: list[Proposal] = []
    for position in sorted(positions, key=lambda p: p.asset):
        bar = snapshot.bars.get(position.asset)
        strategy = strategy_of(position)
        config = configs.get(strategy) if strategy is not None else None
        if bar is None or config is None or not config.active or position.quantity <= 0:
            continue
        fired = triggers(position, close=bar.close, tick=snapshot.tick, config=config)
        if not fired:
            continue
        proposals.append(
            Proposal(
                decision_id=decision_id(len(proposals)),
                tick=snapshot.tick,
                ts=snapshot.ts,
                strategy=strategy,
                action=Swap(sell=position.asset, buy=CASH),
                notional_usd=position.quantity * bar.close,
                rationale="; ".join(fired),
                confidence=1.0,
                quantity=position.quantity,
            )
        )
    return proposals


def _n(value: float) -> str:
    text = f"{value:.8g}"
    return text if any(c in text for c in ".e") else f"{text}.0"


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.6g}%"
