"""Policy rules, one per file; importing the package registers them all."""

from policies.rules import asset_allowlist, max_notional, max_position_share, min_notional  # noqa: F401
