"""What the Dashboard shows, derived from the decision log (and, when attached, the treasury).

Pure functions over decision-log entries: the equity points the governor logged
(PortfolioUpdated after every fill, and the full portfolio logged as the context of every policy
verdict), the latest full portfolio with the day-start equity the policy judged against, the
market phase and fear/greed of the latest proposal, and the allocation targets the treasury
regime strategy stated. Nothing here reads a database or a clock, and nothing is estimated: a
value the log does not hold stays None, and the screen shows "n/a".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from agents.strategies.treasury_regime import TreasuryRegimeConfig
from core.models import DecisionLogEntry, PortfolioState, Stage

_POLICY_STAGES = frozenset({Stage.POLICY_ALLOWED, Stage.POLICY_DENIED})
_TARGET = re.compile(r"^(?P<action>.+?) (?P<asset>[A-Z0-9]{1,16}) [\d,.]+ → target (?P<usd>[\d,.]+)")
"""How treasury_regime states a leg in its rationale: `buy: tactical BTC 6,126 → target 20,157`."""
REGIME = "treasury_regime"


@dataclass(frozen=True)
class EquityPoint:
    tick: int
    equity_usd: float


@dataclass(frozen=True)
class Holding:
    """One line of the allocation: value now, and the share of equity its strategy targets."""

    name: str
    value_usd: float
    share: float
    target_share: float | None = None
    layer: str = "tactical"


@dataclass(frozen=True)
class MarketMood:
    tick: int
    phase: str
    fear_greed: float | None


@dataclass(frozen=True)
class DashboardView:
    equity: list[EquityPoint] = field(default_factory=list)
    portfolio: PortfolioState | None = None
    day_start_equity_usd: float | None = None
    market: MarketMood | None = None
    targets: dict[str, float] = field(default_factory=dict)
    """Target share of equity per asset, as the treasury regime strategy last stated it."""
    source: str = "decision log"

    @property
    def total_usd(self) -> float | None:
        if self.portfolio is not None and (not self.equity
                                           or self.portfolio.tick >= self.equity[-1].tick):
            return self.portfolio.equity_usd
        return self.equity[-1].equity_usd if self.equity else None

    @property
    def pnl_overall_usd(self) -> float | None:
        if self.portfolio is None or self.total_usd is None:
            return None
        return self.total_usd - self.portfolio.initial_equity_usd

    @property
    def pnl_today_usd(self) -> float | None:
        """Equity now against the equity the policy saw the (UTC, bar-time) day start with."""
        if self.portfolio is None or self.day_start_equity_usd is None:
            return None
        return self.portfolio.equity_usd - self.day_start_equity_usd


def dashboard_view(entries: Iterable[DecisionLogEntry]) -> DashboardView:
    """Everything the dashboard shows that the decision log holds."""
    points: dict[int, float] = {}
    portfolio, day_start, market = None, None, None
    regime_targets: dict[str, tuple[float, int]] = {}  # asset -> (target usd, decision tick)
    equity_at: dict[int, float] = {}
    for entry in entries:
        payload = entry.payload
        if entry.stage == Stage.PORTFOLIO_UPDATED and "equity_usd" in payload:
            points[payload["tick"]] = payload["equity_usd"]
        elif entry.stage in _POLICY_STAGES and isinstance(payload.get("context"), dict):
            context = payload["context"]
            portfolio = PortfolioState.model_validate(context["portfolio"])
            points[portfolio.tick] = portfolio.equity_usd
            equity_at[portfolio.tick] = portfolio.equity_usd
            state = context.get("state") or {}
            day_start = state.get("day_start_equity_usd")
        elif entry.stage == Stage.PROPOSAL_CREATED:
            market = _mood(payload) or market
            target = _stated_target(payload.get("proposal") or {})
            if target is not None:
                regime_targets[target[0]] = (target[1], payload["proposal"]["tick"])
    targets = {asset: usd / equity_at[tick] for asset, (usd, tick) in regime_targets.items()
               if equity_at.get(tick)}
    equity = [EquityPoint(tick, points[tick]) for tick in sorted(points)]
    return DashboardView(equity=equity, portfolio=portfolio, day_start_equity_usd=day_start,
                         market=market, targets=targets)


def allocation(view: DashboardView, regime: TreasuryRegimeConfig | None
               ) -> tuple[list[Holding], list[Holding]]:
    """(layers, holdings): base yield / tactical / cash, and each asset or protocol position.

    Targets come from the treasury regime strategy (``regime``, None when it is not enabled):
    the base layer's share from its config, each tactical asset's from what it last stated.
    """
    portfolio = view.portfolio
    if portfolio is None:
        return [], []
    equity = portfolio.equity_usd or 1.0
    lending = regime is not None and regime.base_layer == "lending"
    holdings = []
    unheld = {a for a in view.targets if a not in portfolio.positions
              and not (regime and a == regime.lending_asset)}
    for asset in sorted({*portfolio.positions, *unheld}):
        value = portfolio.position_value(asset)
        if lending and asset == regime.receipt_asset:
            holdings.append(Holding(f"{regime.lending_protocol} ({asset})", value, value / equity,
                                    regime.base_share, "base yield"))
        else:
            holdings.append(Holding(asset, value, value / equity, view.targets.get(asset)))
    cash_layer = "cash" if not regime or lending else "cash + base layer"
    holdings.append(Holding("cash (USD)", portfolio.cash_usd, portfolio.cash_usd / equity,
                            None, cash_layer))
    tactical_targets = [view.targets[h.name] for h in holdings
                        if h.layer == "tactical" and h.name in view.targets]
    tactical_target = sum(tactical_targets) if regime and tactical_targets else None
    base_target = regime.base_share if lending else None
    targets: dict[str, float | None] = {"base yield": base_target, "tactical": tactical_target}
    if tactical_target is not None and (base_target is not None or not lending):
        targets[cash_layer] = 1 - tactical_target - (base_target or 0.0)
    names = (["base yield"] if lending else []) + ["tactical", cash_layer]
    cash = holdings.pop()
    holdings.append(replace(cash, target_share=targets.get(cash_layer)))
    layers = []
    for name in names:
        value = sum(h.value_usd for h in holdings if h.layer == name)
        layers.append(Holding(name, value, value / equity, targets.get(name), name))
    return layers, holdings


def _mood(payload: dict[str, Any]) -> MarketMood | None:
    snapshot = payload.get("snapshot")
    if not isinstance(snapshot, dict) or "phase" not in snapshot:
        return None
    mood = payload.get("mood")
    return MarketMood(snapshot.get("tick", 0), snapshot["phase"],
                      float(mood) if isinstance(mood, (int, float)) else None)


def _stated_target(proposal: dict[str, Any]) -> tuple[str, float] | None:
    """(asset, target USD) from a treasury_regime proposal's rationale; None for any other."""
    if proposal.get("strategy") != REGIME:
        return None
    match = _TARGET.match(str(proposal.get("rationale", "")))
    if match is None:
        return None
    return match["asset"], float(match["usd"].replace(",", ""))
