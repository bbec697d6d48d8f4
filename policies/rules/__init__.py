"""Policy rules, one per file; importing the package registers them all."""

from policies.rules import (  # noqa: F401
    asset_allowlist,
    daily_loss_limit,
    kill_switch,
    loss_cooldown,
    max_drawdown,
    max_notional,
    max_position_share,
    max_slippage,
    max_trades_per_hour,
    max_volatile_share,
    min_liquidity,
    min_notional,
    protocol_allowlist,
    stale_data,
    stoploss_guard,
)
