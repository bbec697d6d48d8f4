"""Strategy plugins, one per file; importing the package registers them all."""

from agents.strategies import sma_cross  # noqa: F401
