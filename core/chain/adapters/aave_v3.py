"""Aave V3 through its Pool: reserve data, supplied balances, and supply/withdraw transactions.

A supply is preceded by an approval of exactly its amount. Balances are read from the reserve's
aToken (scaled balance × liquidity index), as Aave defines them. Works against Quorum's devnet
lending pool and the deployed Aave V3 Pool alike.
"""

from __future__ import annotations

from typing import NamedTuple

from web3 import Web3

from core.chain.adapters.abis import AAVE_V3_ATOKEN, AAVE_V3_POOL
from core.chain.adapters.erc20 import Erc20
from core.chain.tx import ContractCall, call_of

RAY = 10**27
SECONDS_PER_YEAR = 365 * 24 * 3600
WITHDRAW_ALL = 2**256 - 1
"""Aave's "withdraw my whole balance" amount (type(uint256).max)."""


class ReserveData(NamedTuple):
    """getReserveData's ReserveDataLegacy, field for field; indexes and rates are rays."""

    configuration: tuple[int]
    liquidityIndex: int
    currentLiquidityRate: int
    variableBorrowIndex: int
    currentVariableBorrowRate: int
    currentStableBorrowRate: int
    lastUpdateTimestamp: int
    id: int
    aTokenAddress: str
    stableDebtTokenAddress: str
    variableDebtTokenAddress: str
    interestRateStrategyAddress: str
    accruedToTreasury: int
    unbacked: int
    isolationModeTotalDebt: int


def ray_mul(a: int, b: int) -> int:
    """Aave's WadRayMath.rayMul: a × b in rays, rounded half up."""
    return (a * b + RAY // 2) // RAY


def ray_div(a: int, b: int) -> int:
    """Aave's WadRayMath.rayDiv: a ÷ b in rays, rounded half up."""
    return (a * RAY + b // 2) // b


def normalized_income(index: int, rate: int, last_update: int, now: int) -> int:
    """Aave's getNormalizedIncome: the index grown linearly at ``rate`` (yearly ray) to ``now``."""
    if now == last_update:
        return index
    return ray_mul(RAY + rate * (now - last_update) // SECONDS_PER_YEAR, index)


class AaveV3Pool:
    """One Aave V3 Pool and the aTokens of its reserves."""

    def __init__(self, w3: Web3, pool_address: str) -> None:
        self.w3 = w3
        self.pool = w3.eth.contract(
            address=Web3.to_checksum_address(pool_address), abi=AAVE_V3_POOL
        )
        self.address = self.pool.address

    def reserve_data(self, asset: str) -> ReserveData:
        raw = self.pool.functions.getReserveData(Web3.to_checksum_address(asset)).call()
        return ReserveData(*raw)

    def normalized_income(self, asset: str, *, block: int | str = "latest") -> int:
        """The liquidity index as of ``block`` (a ray): a deposit or withdrawal is valued at its
        own block's index, not at whatever time a later read happens to run at."""
        return self.pool.functions.getReserveNormalizedIncome(
            Web3.to_checksum_address(asset)
        ).call(block_identifier=block)

    def a_token(self, asset: str):
        address = self.reserve_data(asset).aTokenAddress
        if int(address, 16) == 0:
            raise LookupError(f"{asset} is not a reserve of the Aave pool {self.address}")
        return self.w3.eth.contract(address=address, abi=AAVE_V3_ATOKEN)

    def supplied(self, asset: str, user: str) -> int:
        """What ``user`` could withdraw of ``asset`` now, interest included (base units)."""
        return self.a_token(asset).functions.balanceOf(Web3.to_checksum_address(user)).call()

    def supply(self, *, asset: str, amount: int, on_behalf_of: str) -> tuple[ContractCall, ...]:
        """Approve exactly ``amount`` to the pool, then supply it."""
        token = Erc20(self.w3, asset)
        return (
            token.approve_exact(self.address, amount, spender_name="Aave pool"),
            call_of(
                self.pool,
                "supply",
                [token.address, amount, Web3.to_checksum_address(on_behalf_of), 0],
                f"supply {amount} of {token.symbol} to the Aave pool",
            ),
        )

    def withdraw(self, *, asset: str, amount: int, to: str) -> ContractCall:
        """Withdraw ``amount`` base units (``WITHDRAW_ALL`` for the whole balance) to ``to``."""
        if amount <= 0:
            raise ValueError(f"withdraw amount must be > 0, got {amount}")
        what = "everything" if amount == WITHDRAW_ALL else str(amount)
        return call_of(
            self.pool,
            "withdraw",
            [Web3.to_checksum_address(asset), amount, Web3.to_checksum_address(to)],
            f"withdraw {what} of {asset} from the Aave pool",
        )
