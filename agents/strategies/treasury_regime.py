"""The treasury regime strategy: a base yield layer of lending deposits and a tactical layer whose
mode follows the market phase.

Equity splits into the base layer (``base_share``, lent to ``lending_protocol``) and the tactical
layer (the rest), which keeps ``<mode>_exposure`` of itself in the tactical assets, equal parts,
and the remainder in cash. The mode follows the lead asset's phase (``treasury_phase``: valuation,
trend, volatility, sentiment). Every leg is rebalanced toward its target when one drifts more than
``drift_threshold`` of equity from it, every ``rebalance_every_bars`` bars, and when the mode
changes.

The base layer's balance is the value of the ``receipt_asset`` position: the symbol the treasury
books deposits under. With ``base_layer = "cash"`` the base layer is simply held as cash and only
the tactical layer trades. Deposits, withdrawals and swaps are proposals like any other; nothing
here moves money. The one thing remembered between ticks is the mode followed (ModeFollower).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from agents.indicator_spec import IndicatorSpec
from agents.strategies.base import Signal, Strategy, register
from agents.strategies.treasury_phase import (
    Mode,
    ModeFollower,
    Phase,
    PhaseConfig,
    classify,
)
from core.models import MarketSnapshot, PortfolioState, SentimentReading, Side

SYMBOL = r"^[A-Z0-9]{1,16}$"
BASE_CONFIDENCE = 0.9
"""The base layer follows a fixed allocation rule, not a forecast."""
TACTICAL_CONFIDENCE = 0.7


class TreasuryRegimeConfig(PhaseConfig):
    base_share: float = Field(
        default=0.6, ge=0, lt=1, description="Share of equity in the base yield layer; the "
        "tactical layer gets the rest (0.6: 60% base, 40% tactical)",
    )
    base_layer: Literal["lending", "cash"] = Field(
        default="lending", description="lending: deposit the base layer into lending_protocol; "
        "cash: hold it as cash (paper mode lends at [execution] lending_rates; on a chain the "
        "executor supplies it to the lending pool)",
    )
    lending_protocol: str = Field(
        default="aave-v3", min_length=1,
        description="Lending protocol of the base layer (must be on the policy's allowlist)",
    )
    lending_asset: str = Field(
        default="USDC", pattern=SYMBOL, description="Stablecoin the base layer lends"
    )
    receipt_asset: str = Field(
        default="AUSDC", pattern=SYMBOL, description="Symbol the treasury books deposits under "
        "(the protocol's receipt token, like Aave's aUSDC); its value is the base layer's balance",
    )
    tactical_assets: tuple[str, ...] = Field(
        default=(), description="Assets of the tactical layer, in equal parts; the first one's "
        "phase sets the mode. Empty: every asset in the market data",
    )
    accumulation_exposure: float = Field(
        default=0.6, ge=0, le=1, description="Share of the tactical layer invested when the "
        "lead asset is cheap (undervalued, or fearful)",
    )
    aggressive_exposure: float = Field(
        default=1.0, ge=0, le=1, description="Share invested in an uptrend at fair value"
    )
    conservative_exposure: float = Field(
        default=0.3, ge=0, le=1, description="Share invested in an uptrend that looks rich "
        "(overvalued, or greedy)",
    )
    hedge_exposure: float = Field(
        default=0.0, ge=0, le=1, description="Share invested in a downtrend or a volatility spike"
    )
    drift_threshold: float = Field(
        default=0.05, gt=0, lt=1, description="Rebalance when a leg is this share of equity "
        "away from its target (0.05 = 5%)",
    )
    rebalance_every_bars: int = Field(
        default=168, ge=1, description="Rebalance on this schedule too, in bars (168: weekly "
        "on hourly bars)",
    )
    min_trade_usd: float = Field(
        default=10.0, ge=0, allow_inf_nan=False, description="Legs smaller than this are left"
    )

    @field_validator("tactical_assets")
    @classmethod
    def _symbols(cls, assets: tuple[str, ...]) -> tuple[str, ...]:
        bad = [asset for asset in assets if not re.fullmatch(SYMBOL, asset)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: expected upper-case symbols like BTC")
        if len(set(assets)) != len(assets):
            raise ValueError("each asset may be listed once")
        return assets

    def exposure(self, mode: Mode) -> float:
        """Share of the tactical layer invested in the tactical assets in this mode."""
        return getattr(self, f"{mode.value}_exposure")


@dataclass(frozen=True, slots=True)
class Leg:
    """One line of the allocation: an asset (or the base layer), now and at target, in USD."""

    asset: str
    now_usd: float
    target_usd: float
    base: bool = False

    @property
    def gap_usd(self) -> float:
        return self.target_usd - self.now_usd


@register
class TreasuryRegime(Strategy):
    """Base yield layer (lending) plus a tactical layer whose mode follows the market phase."""

    name = "treasury_regime"
    config_model = TreasuryRegimeConfig
    config: TreasuryRegimeConfig

    def __init__(self, config: TreasuryRegimeConfig) -> None:
        super().__init__(config)
        self.follower = ModeFollower(config.confirm_bars)

    @property
    def mode(self) -> Mode | None:
        """The mode the tactical layer follows (None until one is confirmed)."""
        return self.follower.mode

    def required_indicators(self) -> list[IndicatorSpec]:
        return self.config.specs()

    def signals(
        self,
        snapshot: MarketSnapshot,
        sentiment: SentimentReading,
        portfolio: PortfolioState,
    ) -> list[Signal]:
        assets = self.tactical_assets(snapshot)
        phase = classify(snapshot.indicators.get(assets[0], {}), sentiment.mood, self.config,
                         self.indicator_keys) if assets else None
        left = self.follower.mode
        changed = self.follower.observe(phase)
        equity = portfolio.equity_usd
        if equity <= 0:
            return []
        legs = self.legs(assets, portfolio)
        drift = max((abs(leg.gap_usd) / equity for leg in legs), default=0.0)
        triggers = []
        if drift > self.config.drift_threshold:
            triggers.append(f"drift {drift:.1%} > {self.config.drift_threshold * 100:g}%")
        if snapshot.tick % self.config.rebalance_every_bars == 0:
            triggers.append(f"scheduled every {self.config.rebalance_every_bars} bars")
        if changed:
            triggers.append(f"phase change {left.value} → {self.mode.value}" if left
                            else f"mode confirmed: {self.mode.value}")
        if not triggers:
            return []
        return self._rebalance(legs, snapshot, portfolio,
                               why=f"{'; '.join(triggers)}; {self._following(phase)}")

    def _following(self, phase: Phase | None) -> str:
        """The mode followed and, when this bar sees another, that one unconfirmed."""
        if self.mode is None:
            return "no mode confirmed yet" + (f" ({phase.mode.value} seen)" if phase else "")
        if phase is None or phase.mode is self.mode:
            return f"{self.mode.value} mode" + (f", {phase.why}" if phase else "")
        return f"{self.mode.value} mode ({phase.mode.value} seen, not confirmed: {phase.why})"

    def volatile_share(self) -> tuple[float, str]:
        config = self.config
        most = max(config.exposure(mode) for mode in Mode)
        return (1 - config.base_share) * most, "base_share and the modes' exposures"

    def named_assets(self) -> dict[str, tuple[str, ...]]:
        return {"tactical_assets": self.config.tactical_assets}

    def tactical_assets(self, snapshot: MarketSnapshot) -> list[str]:
        """The tactical assets this snapshot prices, lead first."""
        wanted = self.config.tactical_assets or tuple(snapshot.bars)
        return [asset for asset in wanted if asset in snapshot.bars]

    def legs(self, assets: list[str], portfolio: PortfolioState) -> list[Leg]:
        """The base layer (when lending) and, once a mode is followed, each tactical asset."""
        config, equity = self.config, portfolio.equity_usd
        legs = []
        if config.base_layer == "lending":
            legs.append(Leg(config.lending_asset, portfolio.position_value(config.receipt_asset),
                            config.base_share * equity, base=True))
        if self.mode is not None and assets:
            each = (1 - config.base_share) * equity * config.exposure(self.mode) / len(assets)
            legs.extend(Leg(asset, portfolio.position_value(asset), each) for asset in assets)
        return legs

    def _rebalance(
        self, legs: list[Leg], snapshot: MarketSnapshot, portfolio: PortfolioState, *, why: str
    ) -> list[Signal]:
        """Withdrawals and sales first, then the deposit, then purchases from the cash there is."""
        minimum = max(self.config.min_trade_usd, 1e-9)
        signals = [self._reduce(leg, snapshot, portfolio, why)
                   for leg in legs if leg.gap_usd <= -minimum]
        cash = portfolio.cash_usd
        for leg in sorted((leg for leg in legs if leg.gap_usd >= minimum), key=lambda l: not l.base):
            notional = min(leg.gap_usd, cash)
            if notional >= minimum:
                cash -= notional
                signals.append(self._signal(leg, Side.BUY, notional, why))
        return signals

    def _reduce(
        self, leg: Leg, snapshot: MarketSnapshot, portfolio: PortfolioState, why: str
    ) -> Signal:
        if leg.base:
            return self._signal(leg, Side.SELL, -leg.gap_usd, why)
        close = snapshot.price(leg.asset)
        held = portfolio.quantity(leg.asset)
        quantity = held if leg.target_usd <= 0 else min(held, -leg.gap_usd / close)
        return self._signal(leg, Side.SELL, quantity * close, why, quantity=quantity)

    def _signal(
        self, leg: Leg, side: Side, notional: float, why: str, *, quantity: float | None = None
    ) -> Signal:
        if leg.base:
            verb = "deposit into" if side is Side.BUY else "withdraw from"
            action = f"{verb} {self.config.lending_protocol}: base layer"
        else:
            action = f"{side.value}: tactical"
        return Signal(
            asset=leg.asset, side=side,
            confidence=BASE_CONFIDENCE if leg.base else TACTICAL_CONFIDENCE,
            rationale=f"{action} {leg.asset} {leg.now_usd:,.0f} → target {leg.target_usd:,.0f} "
            f"({why})",
            notional_usd=notional, quantity=quantity,
            protocol=self.config.lending_protocol if leg.base else None,
            receipt=self.config.receipt_asset if leg.base else None,
        )
