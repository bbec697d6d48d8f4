"""A run's chain: the devnet, or anvil forking a real chain, for ``quorum run --mode devnet|fork``.

``ChainVenue.start`` unlocks nothing: it makes sure the configured keystore key exists (it is
created on first run), starts anvil, gives the treasury's address its cash and gas, and returns
the chain executor's configuration; the executor unlocks the key in its own process.

- devnet: Quorum's contracts are deployed and seeded at the first bar's prices; deposits of the
  cash token go to its lending pool, booked as AUSDC. Each tick,
  ``before_settle`` moves block time to the bar's time (lending interest accrues in market time)
  and the arbitrageur puts every pool on the bar's open, the price paper trading fills at.
- fork: anvil forks ``--fork-url``; the adapters point at the real protocols (Ethereum
  mainnet's Uniswap V2, Aave V3 Pool and tokens unless ``[chain.fork]`` names others). The
  treasury's cash is dealt to it on the fork (``anvil_dealERC20``) and gas set; no arbitrageur
  runs, so swaps see the forked pools' own prices. Deposits of the cash token go to the Aave V3
  Pool (``lending_pool``, mainnet's by default), booked as AUSDC, once the pool is checked on the
  fork to list the cash token as an open reserve; a fork of another chain without
  ``lending_pool`` does not lend (deposits are denied). Block time only ever moves forward.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal, Self

from pydantic import SecretStr
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from agents.executor_chain_config import ChainExecutorConfig, LendingReserve
from core.chain import mainnet
from core.chain.adapters.aave_v3 import AaveV3Pool
from core.chain.adapters.erc20 import Erc20
from core.chain.anvil import (
    Anvil,
    http_web3,
    rpc,
    run_chain_id,
    set_balance,
    set_next_block_timestamp,
)
from core.chain.deploy import QUOTE_TOKEN
from core.chain.devnet import Devnet
from core.chain.keys import Keystore
from core.chain.settings import ChainConfig, ForkConfig
from core.errors import ConfigError
from core.logging import get_logger
from core.models import MarketSnapshot
from policies.engine import PolicyEngine

log = get_logger(__name__)

ChainMode = Literal["devnet", "fork"]
MAINNET_FEED_TOKENS = {"USD": "USDC", "ETH": "WETH", "BTC": "WBTC"}
LENDING_RECEIPT = "AUSDC"
"""What the treasury books deposits of the cash token under (treasury_regime's receipt_asset)."""
RESERVE_CLOSED_BITS = {57: "frozen", 60: "paused"}
"""Bits of Aave V3's ReserveConfigurationMap that refuse new supplies (DataTypes.sol)."""


class ChainVenue:
    """The chain of one run; stop it (or leave the ``with`` block) to end anvil."""

    def __init__(self, *, anvil: Anvil, w3: Web3, executor: ChainExecutorConfig, treasury: str,
                 devnet: Devnet | None) -> None:
        self.anvil = anvil
        self.w3 = w3
        self.executor_config = executor
        self.treasury = treasury
        self.devnet = devnet

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
        keystore = Keystore(chain.keys_dir)
        treasury = keystore.ensure_devnet_key(chain.key_name, password)
        limits = {
            "key_name": chain.key_name, "keys_dir": keystore.directory,
            "max_slippage_bps": policy.swap_slippage_bps(),
            "deadline_s": policy.policy.execution.deadline_s,
            "gas_cap_wei": policy.policy.execution.gas_cap_wei,
            "receipt_timeout_s": chain.receipt_timeout_s,
        }
        if mode == "fork":
            if fork_url is None:
                raise ConfigError("--mode fork needs --fork-url URL (or $QUORUM_FORK_URL)")
            return cls._fork(chain.fork, fork_url, treasury, prices, cash_usd, limits)
        devnet = Devnet.start(
            prices=prices, treasury=treasury, cash_usd=cash_usd, config=chain.devnet,
            cache_dir=cache_dir, genesis_timestamp=int(start.timestamp()) - 3600,
            chain_id=run_chain_id(),
        )
        deployment = devnet.deployment
        executor = ChainExecutorConfig(
            mode="devnet", rpc_url=SecretStr(devnet.anvil.rpc_url), router=deployment.router,
            quote_token=deployment.tokens[QUOTE_TOKEN],
            tokens={a: deployment.tokens[deployment.token_for_feed(a)] for a in prices},
            lending={LENDING_RECEIPT: LendingReserve(pool=deployment.pool,
                                                     asset=deployment.tokens[QUOTE_TOKEN])},
            **limits,
        )
        log.info("chain.venue.ready", mode=mode, treasury=treasury, assets=sorted(prices))
        return cls(anvil=devnet.anvil, w3=devnet.w3, executor=executor, treasury=treasury,
                   devnet=devnet)

    @classmethod
    def _fork(cls, fork: ForkConfig, fork_url: SecretStr, treasury: str,
              prices: dict[str, float], cash_usd: float, limits: dict) -> ChainVenue:
        # The fork gets a chain id of its own: what the treasury key signs there can never be
        # replayed on the forked chain, and its nonces never mix with a live run's.
        chain_id = http_web3(fork_url.get_secret_value()).eth.chain_id  # the forked chain's
        anvil = Anvil.start(fork_url=fork_url.get_secret_value(),
                            fork_block_number=fork.block_number, chain_id=run_chain_id())
        try:
            w3 = anvil.web3()
            router, tokens = fork_addresses(chain_id, fork, assets=sorted(prices))
            lending = fork_lending(w3, fork_lending_pool(chain_id, fork), tokens["USD"],
                                   chain_id=chain_id)
            quote = Erc20(w3, tokens["USD"])
            set_balance(w3, treasury, int(Decimal(str(fork.treasury_ether)) * 10**18))
            units = int(Decimal(str(cash_usd)).scaleb(quote.decimals))
            rpc(w3, "anvil_dealERC20", [treasury, quote.address, hex(units)])
            executor = ChainExecutorConfig(
                mode="fork", rpc_url=SecretStr(anvil.rpc_url), router=router,
                quote_token=quote.address,
                tokens={a: tokens[a] for a in prices}, lending=lending, **limits,
            )
        except BaseException:
            anvil.stop()
            raise
        log.info("chain.venue.ready", mode="fork", treasury=treasury, assets=sorted(prices),
                 chain_id=chain_id, lending=sorted(lending))
        return cls(anvil=anvil, w3=w3, executor=executor, treasury=treasury, devnet=None)

    def before_settle(self, snapshot: MarketSnapshot) -> None:
        """Block time forward to the bar's open; on the devnet, pools onto the bar's open."""
        latest = self.w3.eth.get_block("latest")["timestamp"]
        bar_time = int(snapshot.ts.timestamp())
        if bar_time > latest:  # an empty block at the bar's time: deadlines count from there
            set_next_block_timestamp(self.w3, bar_time)
            rpc(self.w3, "evm_mine", [])
        if self.devnet is not None:
            self.devnet.align({asset: bar.open for asset, bar in snapshot.bars.items()})

    def stop(self) -> None:
        self.anvil.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fork_addresses(chain_id: int, fork: ForkConfig, *, assets: list[str]
                    ) -> tuple[str, dict[str, str]]:
    """(router, feed symbol -> token) on the forked chain: [chain.fork], else mainnet's."""
    defaults: dict[str, str] = {}
    router = fork.router
    if chain_id == mainnet.CHAIN_ID:
        defaults = {feed: mainnet.TOKENS[token] for feed, token in MAINNET_FEED_TOKENS.items()}
        router = router or mainnet.UNISWAP_V2_ROUTER02
    tokens = {**defaults, **fork.tokens}
    missing = [symbol for symbol in ["USD", *assets] if symbol not in tokens]
    if router is None or missing:
        what = ", ".join(([] if router else ["router"]) + [f"tokens.{m}" for m in missing])
        raise ConfigError(f"--mode fork: chain {chain_id} is not Ethereum mainnet, so "
                          f"[chain.fork] must give {what}")
    return router, tokens


def fork_lending_pool(chain_id: int, fork: ForkConfig) -> str | None:
    """The Aave V3 Pool deposits go to on the forked chain: [chain.fork], else mainnet's."""
    if fork.lending_pool is not None:
        return fork.lending_pool
    return mainnet.AAVE_V3_POOL if chain_id == mainnet.CHAIN_ID else None


def fork_lending(w3: Web3, pool_address: str | None, cash_token: str, *,
                 chain_id: int | None = None) -> dict[str, LendingReserve]:
    """The executor's lending reserve on the fork, once the pool is checked to take the cash
    token; empty (lending off, logged) when no pool is configured or the reserve is closed.
    ``chain_id``: the chain the addresses belong to (a fork's source), named in messages."""
    chain_id = chain_id if chain_id is not None else w3.eth.chain_id
    if pool_address is None:
        log.warning("chain.venue.lending_off", chain_id=chain_id,
                    reason="[chain.fork] lending_pool is not set; deposits are denied")
        return {}
    where = f"[chain.fork] lending_pool {pool_address} on chain {chain_id}"
    if not w3.eth.get_code(Web3.to_checksum_address(pool_address)):
        raise ConfigError(f"{where}: no contract at that address")
    pool = AaveV3Pool(w3, pool_address)
    try:
        reserve = pool.reserve_data(cash_token)
        listed = int(reserve.aTokenAddress, 16) != 0
        index = pool.normalized_income(cash_token) if listed else 0
    except (ContractLogicError, BadFunctionCallOutput):
        raise ConfigError(f"{where}: does not answer Aave V3's getReserveData and "
                          "getReserveNormalizedIncome; is it an Aave V3 Pool?") from None
    if not listed:
        raise ConfigError(f"{where}: the cash token {cash_token} (tokens.USD) is not one of its "
                          "reserves")
    if index <= 0:  # the executor prices the receipt against it
        raise ConfigError(f"{where}: the cash token's reserve has no income index")
    closed = _closed_states(reserve.configuration[0])
    if closed:
        log.warning("chain.venue.lending_off", chain_id=chain_id, pool=pool.address,
                    reason=f"the cash token's reserve is {' and '.join(closed)}; deposits are "
                    "denied")
        return {}
    return {LENDING_RECEIPT: LendingReserve(pool=pool.address,
                                            asset=Web3.to_checksum_address(cash_token))}


def _closed_states(configuration: int) -> list[str]:
    """Which of frozen, paused a reserve's configuration bitmap has set (they refuse supplies)."""
    return [name for bit, name in RESERVE_CLOSED_BITS.items() if configuration >> bit & 1]
