"""A live run's chain: the user's own node (``$QUORUM_RPC_URL``) and keystore key.

``LiveVenue`` has the duck interface of ``core.chain.venue.ChainVenue`` (``executor_config``,
``treasury``, ``w3``, ``before_settle``, ``stop``, a context manager), but Quorum starts nothing
here and changes nothing on the chain: no anvil, no dealt cash, no set balances, no block time.

- The key must already exist (``quorum keys new`` or ``quorum keys import``); a live run never
  creates one. It is unlocked only inside the executor's process.
- The router, tokens and lending pool come from ``[chain.fork]`` (the same addresses a fork of
  that chain uses), Ethereum mainnet's Uniswap V2, tokens and Aave V3 Pool when the node is chain 1.
- The run starts from the wallet as it is: its cash-token balance is the treasury's cash
  (``opening_cash_usd``, read by ``quorum run`` before the session is built), and each asset
  token it holds opens the run as a position at the pool's spot price (``opening_assets``). A
  lending deposit made before the run is refused (its interest so far cannot be told from its
  principal), as is a wallet without ether for gas.

The RPC URL is a secret (it often carries an API key): it travels as a ``SecretStr`` and is never
logged or put in an error message; errors from the node are reported by their class only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Self, TypeVar

from pydantic import SecretStr
from web3 import Web3

from agents.executor_chain_config import ChainExecutorConfig, LendingReserve
from core.chain.adapters.aave_v3 import AaveV3Pool
from core.chain.adapters.erc20 import Erc20
from core.chain.anvil import http_web3
from core.chain.keys import Keystore
from core.chain.settings import ChainConfig
from core.chain.venue import fork_addresses, fork_lending, fork_lending_pool
from core.errors import ConfigError
from core.logging import get_logger
from core.models import MarketSnapshot
from policies.engine import PolicyEngine

log = get_logger(__name__)

RPC_URL_ENV = "QUORUM_RPC_URL"
DUST_UNITS = 2
"""Base units a balance may hold and still count as empty (the executor's reconcile tolerance)."""
T = TypeVar("T")


def live_rpc_url() -> SecretStr:
    """The user's node, from ``$QUORUM_RPC_URL``; never shown anywhere."""
    url = os.environ.get(RPC_URL_ENV, "").strip()
    if not url:
        raise ConfigError(f"--mode live trades through your own node: set {RPC_URL_ENV} to its "
                          "RPC URL (it is never logged or shown)")
    return SecretStr(url)


def live_key_address(chain: ChainConfig) -> str:
    """The address of the configured key, which must exist: a live run never creates a key."""
    keystore = Keystore(chain.keys_dir)
    name = chain.key_name
    if not keystore.path(name).is_file():
        raise ConfigError(
            f"--mode live signs with key '{name}', which is not in {keystore.directory}: create "
            f"it with `quorum keys new --name {name}` or bring yours with `quorum keys import "
            f"--name {name}` (a live run never creates a key), or set [chain] key_name")
    return keystore.address(name)


@dataclass(frozen=True)
class LiveChain:
    """The user's chain as a live run sees it: where the wallet trades and lends."""

    w3: Web3
    chain_id: int
    treasury: str
    router: str
    tokens: dict[str, str]
    """Feed symbol -> token address; ``USD`` is the cash token."""
    lending: dict[str, LendingReserve]

    @classmethod
    def connect(cls, chain: ChainConfig, *, assets: list[str],
                rpc_url: SecretStr | None = None) -> LiveChain:
        """Reach the node and resolve the protocols' addresses; reads only."""
        treasury = live_key_address(chain)
        url = rpc_url if rpc_url is not None else live_rpc_url()
        w3 = http_web3(url.get_secret_value())
        chain_id = _node_call(lambda: w3.eth.chain_id, "answer eth_chainId")
        router, tokens = _as_live(lambda: fork_addresses(chain_id, chain.fork, assets=assets))
        lending = _as_live(lambda: _node_call(
            lambda: fork_lending(w3, fork_lending_pool(chain_id, chain.fork), tokens["USD"]),
            "answer the lending pool's reads"))
        return cls(w3=w3, chain_id=chain_id, treasury=treasury, router=router,
                   tokens={symbol: tokens[symbol] for symbol in ["USD", *assets]},
                   lending=lending)

    def balances(self) -> dict[str, tuple[int, int]]:
        """The wallet now: symbol -> (base units, decimals) for cash, each asset, each deposit."""
        def read() -> dict[str, tuple[int, int]]:
            held = {}
            for symbol, address in self.tokens.items():
                token = Erc20(self.w3, address)
                held[symbol] = (token.balance_of(self.treasury), token.decimals)
            for receipt, reserve in self.lending.items():
                cash = Erc20(self.w3, reserve.asset)
                supplied = AaveV3Pool(self.w3, reserve.pool).supplied(cash.address, self.treasury)
                held[receipt] = (supplied, cash.decimals)
            held["gas"] = (self.w3.eth.get_balance(self.treasury), 18)
            return held

        return _node_call(read, "answer the wallet's balance reads")

    def opening_cash_usd(self) -> float:
        """The wallet's cash, once it is checked to hold nothing the treasury cannot book."""
        return float(self.opening_cash())

    def opening_cash(self) -> Decimal:
        """``opening_cash_usd``, exactly: the cash token's balance in whole tokens."""
        held = self.balances()
        where = f"--mode live: the wallet {self.treasury} (key's address) on chain {self.chain_id}"
        if held["gas"][0] == 0:
            raise ConfigError(f"{where} has no ether to pay gas; send it some first")
        deposits = [
            f"{Decimal(units).scaleb(-decimals).normalize():f} {symbol}"
            for symbol, (units, decimals) in held.items()
            if symbol in self.lending and units > DUST_UNITS
        ]
        if deposits:
            raise ConfigError(
                f"{where} already has {', '.join(deposits)} deposited; a live run books asset "
                "tokens it finds but not a lending deposit made before it (its interest so far "
                "cannot be told from its principal): withdraw it first")
        units, decimals = held["USD"]
        return Decimal(units).scaleb(-decimals)

    def opening_assets(self) -> dict[str, tuple[float, float]]:
        """What the wallet holds of each asset (beyond dust), with the pool's spot price now:
        asset -> (quantity, price), the positions the treasury opens the run with."""
        from core.chain.adapters.uniswap_v2 import UniswapV2Router
        from core.feeds.chain_feed import spot_price

        def read() -> dict[str, tuple[float, float]]:
            router = UniswapV2Router(self.w3, self.router)
            cash = Erc20(self.w3, self.tokens["USD"])
            opening = {}
            for symbol, address in self.tokens.items():
                token = Erc20(self.w3, address)
                units = token.balance_of(self.treasury)
                if symbol == "USD" or units <= DUST_UNITS:
                    continue
                reserve_asset, reserve_cash = router.reserves(token.address, cash.address)
                if reserve_asset <= 0 or reserve_cash <= 0:
                    raise ConfigError(f"--mode live: the wallet holds {symbol} but its pool "
                                      "against the cash token is empty, so it cannot be valued")
                price = spot_price(reserve_asset=reserve_asset, reserve_cash=reserve_cash,
                                   asset_decimals=token.decimals, cash_decimals=cash.decimals)
                opening[symbol] = (float(Decimal(units).scaleb(-token.decimals)), price)
            return opening

        return _node_call(read, "answer the wallet's and pools' reads")


def opening_cash_usd(chain: ChainConfig, *, assets: list[str],
                     rpc_url: SecretStr | None = None) -> float:
    """What a live run's treasury starts with: the wallet's cash-token balance, read on chain."""
    return LiveChain.connect(chain, assets=assets, rpc_url=rpc_url).opening_cash_usd()


class LiveVenue:
    """The user's chain for one live run; stopping it stops nothing on the chain."""

    def __init__(self, *, live: LiveChain, executor: ChainExecutorConfig,
                 opening_positions: dict[str, tuple[float, float]]) -> None:
        self.live = live
        self.w3 = live.w3
        self.treasury = live.treasury
        self.executor_config = executor
        self.opening_positions = opening_positions
        """The wallet's asset holdings at start, asset -> (quantity, spot price): the treasury
        opens the run with them as positions (core/wiring.py)."""

    @classmethod
    def start(cls, *, chain: ChainConfig, policy: PolicyEngine, assets: list[str],
              cash_usd: float, rpc_url: SecretStr | None = None) -> LiveVenue:
        """Connect; refuse unless the wallet holds exactly the ``cash_usd`` the run books."""
        url = rpc_url if rpc_url is not None else live_rpc_url()
        live = LiveChain.connect(chain, assets=assets, rpc_url=url)
        # Whatever mined by this block is in the balances read next (core: opening_block).
        opening_block = _node_call(lambda: live.w3.eth.block_number, "answer eth_blockNumber")
        on_chain = live.opening_cash()
        dust = Decimal(DUST_UNITS).scaleb(on_chain.as_tuple().exponent)
        if abs(on_chain - Decimal(repr(cash_usd))) > dust:
            raise ConfigError(
                f"--mode live: the treasury would start with {cash_usd} of cash but the wallet "
                f"{live.treasury} holds {float(on_chain)}; a live run books the wallet's cash as "
                "it is (quorum run reads it); nothing was started")
        executor = ChainExecutorConfig(
            mode="live", rpc_url=url, router=live.router, quote_token=live.tokens["USD"],
            tokens={asset: live.tokens[asset] for asset in assets}, lending=live.lending,
            key_name=chain.key_name, keys_dir=Keystore(chain.keys_dir).directory,
            max_slippage_bps=policy.swap_slippage_bps(),
            deadline_s=policy.policy.execution.deadline_s,
            gas_cap_wei=policy.policy.execution.gas_cap_wei,
            receipt_timeout_s=chain.receipt_timeout_s, opening_block=opening_block,
        )
        opening = live.opening_assets()
        log.info("chain.venue.ready", mode="live", treasury=live.treasury, assets=sorted(assets),
                 chain_id=live.chain_id, lending=sorted(live.lending), cash_usd=float(on_chain),
                 opening={asset: quantity for asset, (quantity, _) in opening.items()})
        return cls(live=live, executor=executor, opening_positions=opening)

    def before_settle(self, snapshot: MarketSnapshot) -> None:
        """Nothing: a real chain keeps its own time and its pools their own prices."""

    def stop(self) -> None:
        """Nothing to stop: Quorum started nothing on the user's chain."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _as_live(read: Callable[[], T]) -> T:
    """The fork helpers' errors, worded for a live run (they read the same [chain.fork])."""
    try:
        return read()
    except ConfigError as error:
        raise ConfigError(str(error).replace("--mode fork", "--mode live")) from None


def _node_call(read: Callable[[], T], what: str) -> T:
    """Run reads against the user's node; its errors may quote the URL, so only the class shows."""
    try:
        return read()
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - re-raised without the message, which may hold the URL
        raise ConfigError(f"--mode live: the node at ${RPC_URL_ENV} did not {what} "
                          f"({type(error).__name__}); the URL is not shown, it may hold a key"
                          ) from None
