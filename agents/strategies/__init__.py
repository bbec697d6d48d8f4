"""Strategy plugins, one per file; importing the package registers them all."""

from agents.strategies import (  # noqa: F401
    dca,
    grid,
    mean_reversion,
    momentum,
    sma_cross,
    treasury_regime,
    vol_target,
)
