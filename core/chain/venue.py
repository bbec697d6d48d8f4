"""A run's chain: the devnet (or a fork) started for ``quorum run --mode devnet|fork``.

``ChainVenue.start`` unlocks nothing: it makes sure the configured keystore key exists (a devnet
creates it on first run), starts anvil, deploys and seeds the protocol, funds the treasury's
address and returns the chain executor's configuration; the executor unlocks the key in its own
process. Each tick, ``before_settle`` moves block time to the bar's time (so lending interest
accrues in market time) and lets the arbitrageur put every pool on the bar's open, the price the
paper executor fills at.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal, Self

from pydantic import SecretStr

from agents.executor_chain import ChainExecutorConfig
from core.chain.anvil import rpc, set_next_block_timestamp
from core.chain.deploy import QUOTE_TOKEN
from core.chain.devnet import Devnet
from core.chain.keys import Keystore
from core.chain.settings import ChainConfig
from core.logging import get_logger
from core.models import MarketSnapshot
from policies.engine import PolicyEngine

log = get_logger(__name__)

ChainMode = Literal["devnet", "fork"]


class ChainVenue:
    """The chain of one run; stop it (or leave the ``with`` block) to end anvil."""

    def __init__(self, devnet: Devnet, executor: ChainExecutorConfig, treasury: str) -> None:
        self.devnet = devnet
        self.executor_config = executor
        self.treasury = treasury

    @classmethod
    def start(
        cls,
        *,
        mode: ChainMode,
        chain: ChainConfig,
        policy: PolicyEngine,
        password: SecretStr,
        prices: dict[str, float],
        cash_usd: float,
        start: datetime,
        fork_url: SecretStr | None = None,
        cache_dir: Path | None = None,
    ) -> ChainVenue:
        """Start the chain for a run whose first bar opens at ``start`` at ``prices``."""
        if mode == "fork":
            raise NotImplementedError(
                "--mode fork: the executor's venue on a fork (Uniswap V2 and Aave V3 at their "
                "mainnet addresses, a treasury funded on the fork) is not wired yet; "
                "see README, On-chain"
            )
        keystore = Keystore(chain.keys_dir)
        treasury = keystore.ensure_devnet_key(chain.key_name, password)
        devnet = Devnet.start(
            prices=prices, treasury=treasury, cash_usd=cash_usd, config=chain.devnet,
            cache_dir=cache_dir, genesis_timestamp=int(start.timestamp()) - 3600,
        )
        deployment = devnet.deployment
        executor = ChainExecutorConfig(
            mode=mode,
            rpc_url=SecretStr(devnet.anvil.rpc_url),
            router=deployment.router,
            quote_token=deployment.tokens[QUOTE_TOKEN],
            tokens={a: deployment.tokens[deployment.token_for_feed(a)] for a in prices},
            key_name=chain.key_name,
            keys_dir=keystore.directory,
            max_slippage_bps=policy.swap_slippage_bps(),
            deadline_s=policy.policy.execution.deadline_s,
            gas_cap_wei=policy.policy.execution.gas_cap_wei,
            receipt_timeout_s=chain.receipt_timeout_s,
        )
        log.info("chain.venue.ready", mode=mode, treasury=treasury, assets=sorted(prices))
        return cls(devnet, executor, treasury)

    def before_settle(self, snapshot: MarketSnapshot) -> None:
        """Block time to the bar's open, then every pool onto the bar's open price."""
        w3 = self.devnet.w3
        latest = w3.eth.get_block("latest")["timestamp"]
        bar_time = int(snapshot.ts.timestamp())
        if bar_time > latest:  # an empty block at the bar's time: deadlines count from there
            set_next_block_timestamp(w3, bar_time)
            rpc(w3, "evm_mine", [])
        self.devnet.align({asset: bar.open for asset, bar in snapshot.bars.items()})

    def stop(self) -> None:
        self.devnet.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
