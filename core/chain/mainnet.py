"""Where the real protocols live on Ethereum mainnet, for ``--fork-url``.

On a fork (``Anvil.start(fork_url=...)``) nothing is deployed: the same adapters are pointed at
these addresses. Verified against the protocols' own documentation (Aave's Pool against the
Aave DAO's address book, ``AaveV3Ethereum.POOL``); a fork of another chain needs that chain's
addresses (``[chain.fork]``). Real tokens cannot be minted, so a treasury on a fork is funded
the way forks usually are (anvil_setBalance for ether, anvil_dealERC20 for tokens), and no
arbitrageur runs: real arbitrage stopped at the fork block.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from core.chain.adapters.aave_v3 import AaveV3Pool
from core.chain.adapters.uniswap_v2 import UniswapV2Router

UNISWAP_V2_ROUTER02 = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"
UNISWAP_V2_FACTORY = "0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f"
AAVE_V3_POOL = "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"
"""Aave V3's core (Ethereum) market Pool, a proxy: its address stays across Pool upgrades."""
TOKENS = {
    "USDC": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
    "WETH": "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
    "WBTC": "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599",
}
CHAIN_ID = 1


@dataclass(frozen=True)
class ForkVenue:
    """The adapters, pointed at the real protocols on a mainnet fork."""

    router: UniswapV2Router
    lending: AaveV3Pool
    tokens: dict[str, str]


def fork_venue(w3: Web3) -> ForkVenue:
    """Adapters for a node forking Ethereum mainnet; refuses any other chain."""
    chain_id = w3.eth.chain_id
    if chain_id != CHAIN_ID:
        raise ValueError(
            f"chain {chain_id} is not Ethereum mainnet: fork a mainnet RPC URL "
            "(Anvil.start(fork_url=...) keeps the forked chain's id)"
        )
    return ForkVenue(
        router=UniswapV2Router(w3, UNISWAP_V2_ROUTER02),
        lending=AaveV3Pool(w3, AAVE_V3_POOL),
        tokens=dict(TOKENS),
    )
