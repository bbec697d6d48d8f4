"""The chain executor's settings: where it trades and under which limits (built by
``core.chain.venue`` and ``core.chain.live``, never read from a file as they are)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

MAX_DEADLINE_S = 120
"""The longest a signed swap may stay valid after the latest block, in seconds."""


class LendingReserve(BaseModel):
    """Where a receipt asset's deposits go: an Aave V3 Pool and the token lent to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool: str = Field(description="Aave V3 Pool (or the devnet's) address")
    asset: str = Field(description="The token lent (USDC)")


class ChainExecutorConfig(BaseModel):
    """Where the executor trades and under which limits; built by ``core.chain.venue``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["devnet", "fork", "live"]
    rpc_url: SecretStr = Field(description="The node the executor talks to (may hold an API key)")
    router: str = Field(description="Uniswap V2 Router02 (or the devnet's) address")
    quote_token: str = Field(description="The cash token's address (USDC)")
    tokens: dict[str, str] = Field(description="Feed asset (ETH, BTC) -> its token's address")
    key_name: str
    keys_dir: Path | None = None
    max_slippage_bps: float = Field(gt=0, lt=10_000)
    deadline_s: int = Field(default=MAX_DEADLINE_S, ge=1, le=MAX_DEADLINE_S)
    gas_cap_wei: int = Field(gt=0)
    receipt_timeout_s: float = Field(default=30.0, gt=0)
    lending: dict[str, LendingReserve] = Field(
        default_factory=dict, description="Receipt asset (AUSDC) -> where its deposits go"
    )
    tolerance_units: int = Field(
        default=2, ge=0, description="Base units a balance may differ by (float bookkeeping)"
    )
    opening_block: int | None = Field(
        default=None, ge=0,
        description="Live: the block before the run read the wallet it starts from; an earlier "
        "run's order whose trade mined by then is already in those balances, so a restarted "
        "executor records its fill without reporting it again",
    )
