"""The devnet as one object: anvil started, contracts compiled and deployed, the treasury
funded, pools seeded at the feed's prices, and an arbitrageur that keeps them there.

``Devnet.start`` does it all; ``align`` runs once per tick with the feed's prices; ``stop`` (or
leaving the ``with`` block) ends anvil. Every account here but the treasury is a throwaway
service account created for this chain; the treasury's key never comes near this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Self

from web3 import Web3

from core.chain.adapters.aave_v3 import AaveV3Pool
from core.chain.adapters.uniswap_v2 import UniswapV2Router
from core.chain.anvil import Anvil
from core.chain.arbitrage import Alignment, Arbitrageur
from core.chain.compile import compile_all
from core.chain.deploy import (
    QUOTE_TOKEN,
    Deployment,
    deploy_protocol,
    fund,
    mint,
    mint_units,
    seed_pool,
)
from core.chain.settings import DevnetConfig
from core.chain.tx import ServiceSender
from core.logging import get_logger

log = get_logger(__name__)


class Devnet:
    """A running devnet; a context manager that stops anvil on exit."""

    def __init__(
        self,
        *,
        anvil: Anvil,
        w3: Web3,
        deployment: Deployment,
        deployer: ServiceSender,
        arbitrageur: Arbitrageur,
    ) -> None:
        self.anvil = anvil
        self.w3 = w3
        self.deployment = deployment
        self.deployer = deployer
        self.arbitrageur = arbitrageur
        self.router = UniswapV2Router(w3, deployment.router)
        self.lending = AaveV3Pool(w3, deployment.pool)

    @classmethod
    def start(
        cls,
        *,
        prices: Mapping[str, float],
        treasury: str,
        cash_usd: float,
        config: DevnetConfig | None = None,
        cache_dir: Path | None = None,
        anvil_binary: Path | None = None,
        genesis_timestamp: int | None = None,
        chain_id: int | None = None,
    ) -> Devnet:
        """Start anvil and set everything up; ``prices`` are the feed's (ETH, BTC in USD).

        ``genesis_timestamp`` starts the chain's clock there (before the first bar of a replay);
        ``chain_id`` defaults to anvil's 31337 (a run gives its own: anvil.run_chain_id).
        """
        config = config or DevnetConfig()
        artifacts = compile_all(cache_dir=cache_dir)
        anvil = Anvil.start(binary=anvil_binary, genesis_timestamp=genesis_timestamp,
                            chain_id=chain_id)
        try:
            w3 = anvil.web3()
            deployer = ServiceSender.new_funded(w3)
            deployment = deploy_protocol(deployer, artifacts, lending_rates=config.lending_rates)
            for feed_symbol, price in prices.items():
                seed_pool(
                    deployer,
                    deployment,
                    symbol=deployment.token_for_feed(feed_symbol),
                    price=price,
                    depth=config.pool_depth_usd,
                )
            fund(
                deployer,
                deployment,
                address=treasury,
                tokens={QUOTE_TOKEN: cash_usd},
                ether=config.treasury_ether,
            )
            arbitrageur = cls._arbitrageur(w3, deployer, deployment, prices, config)
        except BaseException:
            anvil.stop()
            raise
        log.info(
            "chain.devnet.ready", rpc_url=anvil.rpc_url, treasury=treasury, assets=sorted(prices)
        )
        return cls(
            anvil=anvil, w3=w3, deployment=deployment, deployer=deployer, arbitrageur=arbitrageur
        )

    @staticmethod
    def _arbitrageur(
        w3: Web3,
        deployer: ServiceSender,
        deployment: Deployment,
        prices: Mapping[str, float],
        config: DevnetConfig,
    ) -> Arbitrageur:
        sender = ServiceSender.new_funded(w3)
        depth = config.pool_depth_usd * config.arbitrageur_inventory
        inventory = {deployment.token_for_feed(s): depth / p for s, p in prices.items()}
        mint(deployer, deployment, to=sender.address, amounts={**inventory, QUOTE_TOKEN: depth})

        def top_up(symbol: str, units: int) -> None:
            mint_units(deployer, deployment, to=sender.address, symbol=symbol, units=units)

        return Arbitrageur(sender=sender, deployment=deployment, top_up=top_up)

    def align(self, prices: Mapping[str, float]) -> list[Alignment]:
        """Put every pool on the feed's price (call once per tick, before Quorum trades)."""
        return [
            self.arbitrageur.align(symbol=self.deployment.token_for_feed(s), target_price=p)
            for s, p in prices.items()
        ]

    def stop(self) -> None:
        self.anvil.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
