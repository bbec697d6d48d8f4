"""A parameter checked against another is checked when the other keeps its default too.

Regression: the pair checks read the other field's value only when both were given, so
`--param fast=200` on vol_target (slow 100 by default) was accepted and ran a strategy that
could never trade. Each case sets one field alone, past the other's default.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.strategies.dca import DcaConfig
from agents.strategies.mean_reversion import MeanReversionConfig
from agents.strategies.momentum import MomentumConfig
from agents.strategies.sma_cross import SmaCrossConfig
from agents.strategies.treasury_phase import PhaseConfig
from agents.strategies.treasury_regime import TreasuryRegimeConfig
from agents.strategies.vol_target import VolTargetConfig

LONE_CONFLICTS = [
    (SmaCrossConfig, {"fast": 40}, "fast (40) must be shorter than slow (30)"),
    (VolTargetConfig, {"fast": 200}, "slow (100) must be longer than fast (200)"),
    (MomentumConfig, {"exit_return": 0.05}, "exit_return (0.05) must be below entry_return (0.03)"),
    (MeanReversionConfig, {"entry_z": 0.5, "stop_z": 0.4}, "stop_z (0.4) must be beyond entry_z"),
    (MeanReversionConfig, {"exit_z": -3}, "exit_z (-3) must be above the entry level -entry_z"),
    (PhaseConfig, {"undervalued_z": 3}, "overvalued_z (2) must be above undervalued_z (3)"),
    (PhaseConfig, {"trend_fast": 150}, "trend_slow (100) must be longer than trend_fast (150)"),
    (PhaseConfig, {"fear_below": 80}, "greed_above (75) must be above fear_below (80)"),
    (TreasuryRegimeConfig, {"trend_fast": 150}, "trend_slow (100) must be longer than"),
    (DcaConfig, {"take_profit": 0.1, "exits": {"take_profit": 0.2}},
     "take_profit and exits.take_profit are both set"),
]


@pytest.mark.parametrize(("config", "given", "message"), LONE_CONFLICTS,
                         ids=[f"{c.__name__}-{'-'.join(g)}" for c, g, _ in LONE_CONFLICTS])
def test_one_field_past_the_other_fields_default_is_refused(config, given, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(**given)


@pytest.mark.parametrize("config", sorted({c for c, _, _ in LONE_CONFLICTS}, key=str))
def test_the_defaults_themselves_pass(config):
    config()
