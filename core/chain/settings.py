"""The `[chain]` config section, importable without web3 (every CLI command loads the config).

Which keystore key signs for devnet and fork runs, and how the devnet is set up. The modules
that act on it (``core.chain.venue``, ``core.chain.devnet``) import web3 and load only when a
chain is used.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from core.config_model import ConfigModel

DEVNET_KEY_NAME = "devnet"
DEFAULT_LENDING_RATES = {"USDC": 0.05, "WETH": 0.02, "WBTC": 0.01}
"""Yearly supply rates of the lending pool's reserves (0.05 = 5 %, linear as in Aave)."""


_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _address(value: str) -> str:
    # PydanticCustomError, not ValueError: the message reaches the person without a prefix.
    if not _ADDRESS.match(value):
        raise PydanticCustomError(
            "address", "{value} is not an address (0x and 40 hex digits)", {"value": repr(value)}
        )
    return value


Address = Annotated[str, AfterValidator(_address)]
"""A contract address as written in the config: 0x and 40 hex digits (checked on chain later)."""


class DevnetConfig(ConfigModel):
    """How the devnet is set up."""

    pool_depth_usd: float = Field(
        default=10_000_000, gt=0, description="USDC on each side of each pool when it is seeded"
    )
    lending_rates: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_LENDING_RATES),
        description="Yearly supply rate per token (0.05 = 5 %), accrued linearly with block time",
    )
    treasury_ether: float = Field(
        default=10, gt=0, description="Ether given to the treasury for gas"
    )
    arbitrageur_inventory: float = Field(
        default=10, gt=0, description="Tokens the arbitrageur starts with, in pool depths"
    )


class ForkConfig(ConfigModel):
    """`[chain.fork]`: where the protocols are on the forked chain (Ethereum mainnet's when unset)."""

    router: Address | None = Field(
        default=None, description="Uniswap V2 Router02 (or a fork of it); default: mainnet's"
    )
    tokens: dict[str, Address] = Field(
        default_factory=dict,
        description="Feed symbol -> token address: USD (the cash token), ETH, BTC; default: "
        "mainnet's USDC, WETH, WBTC",
    )
    lending_pool: Address | None = Field(
        default=None,
        description="Aave V3 Pool the cash token is lent to (deposits booked as AUSDC); default: "
        "mainnet's Aave V3 Pool on a mainnet fork, none elsewhere (deposits are then denied)",
    )
    block_number: int | None = Field(default=None, ge=0, description="Fork at this block")
    treasury_ether: float = Field(default=10, gt=0, description="Ether set for gas on the fork")


class ChainConfig(ConfigModel):
    """`[chain]`: which key signs and how the devnet is set up."""

    key_name: str = Field(
        default=DEVNET_KEY_NAME, description="Keystore key that signs (a devnet creates it)"
    )
    keys_dir: Path | None = Field(
        default=None, description="Folder of key files (default: keys/ in the user data dir)"
    )
    devnet: DevnetConfig = Field(default_factory=DevnetConfig)
    fork: ForkConfig = Field(default_factory=ForkConfig)
    receipt_timeout_s: float = Field(
        default=30.0, gt=0, description="Wait this long for a receipt before a fee bump"
    )
