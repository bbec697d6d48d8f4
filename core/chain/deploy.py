"""Deploy Quorum's devnet protocol, mint play tokens, and seed AMM pools at given prices.

Tokens USDC (6 decimals), WETH (18) and WBTC (8); the AMM (a Pair blueprint, the Factory, the
Router); the lending pool with one aToken per token. Everything is sent by the deployer, a
throwaway service account that is also the tokens' minter. Only for a chain Quorum started:
nothing here may run against a chain that holds real value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from core.chain.adapters.uniswap_v2 import UniswapV2Router
from core.chain.anvil import set_balance
from core.chain.compile import Artifact
from core.chain.settings import DEFAULT_LENDING_RATES
from core.chain.tx import ServiceSender, call_of
from core.logging import get_logger

RAY = 10**27
QUOTE_TOKEN = "USDC"

log = get_logger(__name__)


@dataclass(frozen=True)
class TokenSpec:
    symbol: str
    name: str
    decimals: int
    feed_symbol: str
    """What the market feed calls it: USD for USDC, ETH for WETH, BTC for WBTC."""


TOKENS = (
    TokenSpec("USDC", "USD Coin (Quorum devnet)", 6, "USD"),
    TokenSpec("WETH", "Wrapped Ether (Quorum devnet)", 18, "ETH"),
    TokenSpec("WBTC", "Wrapped BTC (Quorum devnet)", 8, "BTC"),
)


class Deployment(BaseModel):
    """Where everything is on the devnet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chain_id: int
    deployer: str
    tokens: dict[str, str]
    decimals: dict[str, int]
    pair_blueprint: str
    factory: str
    router: str
    pool: str
    a_tokens: dict[str, str]

    def token_for_feed(self, feed_symbol: str) -> str:
        """The token standing for a feed asset: ETH -> WETH, BTC -> WBTC, USD -> USDC."""
        for spec in TOKENS:
            if spec.feed_symbol == feed_symbol or spec.symbol == feed_symbol:
                return spec.symbol
        raise KeyError(f"no devnet token for {feed_symbol!r}; the devnet has USD, ETH and BTC")

    def to_units(self, symbol: str, amount: Decimal | float) -> int:
        """An amount of tokens in base units (rounded down)."""
        return int(Decimal(str(amount)).scaleb(self.decimals[symbol]))

    def from_units(self, symbol: str, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.decimals[symbol])


def deploy_protocol(
    deployer: ServiceSender,
    artifacts: Mapping[str, Artifact],
    *,
    lending_rates: Mapping[str, float] = DEFAULT_LENDING_RATES,
    yield_reserve: Mapping[str, float] | None = None,
) -> Deployment:
    """Deploy tokens, AMM and lending pool; leave ``yield_reserve`` tokens in each aToken."""
    tokens = {
        spec.symbol: deployer.deploy(artifacts["Token"], spec.name, spec.symbol, spec.decimals)
        for spec in TOKENS
    }
    blueprint = deployer.deploy(artifacts["Pair"], blueprint=True)
    factory = deployer.deploy(artifacts["Factory"], blueprint)
    router = deployer.deploy(artifacts["Router"], factory)
    pool_address = deployer.deploy(artifacts["LendingPool"])
    pool = deployer.w3.eth.contract(address=pool_address, abi=artifacts["LendingPool"].abi)
    a_tokens = {}
    for spec in TOKENS:
        a_tokens[spec.symbol] = deployer.deploy(
            artifacts["AToken"],
            pool_address,
            tokens[spec.symbol],
            f"Aave devnet {spec.symbol}",
            f"a{spec.symbol}",
            spec.decimals,
        )
        rate = int(Decimal(str(lending_rates.get(spec.symbol, 0.0))) * RAY)
        deployer.send(
            call_of(
                pool,
                "listReserve",
                [tokens[spec.symbol], a_tokens[spec.symbol], rate],
                f"list {spec.symbol} in the lending pool at {rate} ray/year",
            )
        )
    deployment = Deployment(
        chain_id=deployer.chain_id,
        deployer=deployer.address,
        tokens=tokens,
        decimals={spec.symbol: spec.decimals for spec in TOKENS},
        pair_blueprint=blueprint,
        factory=factory,
        router=router,
        pool=pool_address,
        a_tokens=a_tokens,
    )
    reserve = (
        yield_reserve if yield_reserve is not None else {"USDC": 1e9, "WETH": 1e6, "WBTC": 1e5}
    )
    for symbol, amount in reserve.items():
        mint(deployer, deployment, to=a_tokens[symbol], amounts={symbol: amount})
    log.info(
        "chain.deploy.deployed", chain_id=deployment.chain_id, router=router, pool=pool_address
    )
    return deployment


def mint(
    deployer: ServiceSender, deployment: Deployment, *, to: str, amounts: Mapping[str, float]
) -> None:
    """Mint play tokens (amounts in whole tokens, e.g. {"USDC": 100_000}) to ``to``."""
    for symbol, amount in amounts.items():
        mint_units(
            deployer, deployment, to=to, symbol=symbol, units=deployment.to_units(symbol, amount)
        )


def mint_units(
    deployer: ServiceSender, deployment: Deployment, *, to: str, symbol: str, units: int
) -> None:
    """Mint ``units`` base units of ``symbol`` to ``to``."""
    if units <= 0:
        raise ValueError(f"mint {symbol}: units must be positive, got {units}")
    token = deployer.w3.eth.contract(address=deployment.tokens[symbol], abi=_MINT_ABI)
    deployer.send(call_of(token, "mint", [to, units], f"mint {units} of {symbol} to {to}"))


def seed_pool(
    deployer: ServiceSender, deployment: Deployment, *, symbol: str, price: float, depth: float
) -> str:
    """Create the SYMBOL/USDC pool at ``price`` USDC, ``depth`` USDC on each side; its address."""
    if price <= 0 or depth <= 0:
        raise ValueError(
            f"seeding {symbol}: price and depth must be positive, got {price}, {depth}"
        )
    router = UniswapV2Router(deployer.w3, deployment.router)
    base, quote = deployment.tokens[symbol], deployment.tokens[QUOTE_TOKEN]
    if router.pair_address(base, quote) is not None:
        raise ValueError(f"the {symbol}/{QUOTE_TOKEN} pool exists already")
    base_units = deployment.to_units(symbol, Decimal(str(depth)) / Decimal(str(price)))
    quote_units = deployment.to_units(QUOTE_TOKEN, depth)
    mint_units(deployer, deployment, to=deployer.address, symbol=symbol, units=base_units)
    mint_units(deployer, deployment, to=deployer.address, symbol=QUOTE_TOKEN, units=quote_units)
    deadline = deployer.w3.eth.get_block("latest")["timestamp"] + 600
    for call in router.add_liquidity(
        token_a=base,
        token_b=quote,
        amount_a=base_units,
        amount_b=quote_units,
        min_a=base_units,
        min_b=quote_units,
        to=deployer.address,
        deadline=deadline,
    ):
        deployer.send(call)
    pair = router.pair_address(base, quote)
    log.info("chain.deploy.pool_seeded", symbol=symbol, price=price, depth=depth, pair=pair)
    return pair


def fund(
    deployer: ServiceSender,
    deployment: Deployment,
    *,
    address: str,
    tokens: Mapping[str, float],
    ether: float,
) -> None:
    """Give ``address`` play tokens and ``ether`` for gas."""
    mint(deployer, deployment, to=address, amounts=tokens)
    set_balance(deployer.w3, address, int(Decimal(str(ether)) * 10**18))
    log.info("chain.deploy.funded", address=address, tokens=dict(tokens), ether=ether)


_MINT_ABI = [
    {
        "type": "function",
        "name": "mint",
        "stateMutability": "nonpayable",
        "outputs": [],
        "inputs": [{"name": "receiver", "type": "address"}, {"name": "amount", "type": "uint256"}],
    }
]
"""The devnet token's minting function: not part of ERC-20, so not in the adapters' ABIs."""
