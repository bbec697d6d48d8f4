"""Uniswap V2 through its Router02: quotes, reserves, and swap/liquidity transactions.

Every swap carries an ``amountOutMin`` (the quote less the slippage allowed) and a deadline, and
is preceded by an approval of exactly its input. Works against Quorum's devnet AMM and the
deployed Uniswap V2 (or any Router02 fork) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from web3 import Web3

from core.chain.adapters.abis import (
    UNISWAP_V2_FACTORY,
    UNISWAP_V2_PAIR,
    UNISWAP_V2_ROUTER,
)
from core.chain.adapters.erc20 import Erc20
from core.chain.tx import ContractCall, call_of

FEE_NUMERATOR, FEE_DENOMINATOR = 997, 1000
ZERO_ADDRESS = "0x" + "00" * 20


def amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Uniswap V2's getAmountOut: the output of one hop after the 0.3% fee, rounded down."""
    if amount_in <= 0 or reserve_in <= 0 or reserve_out <= 0:
        raise ValueError("amount_out needs a positive input and positive reserves")
    with_fee = amount_in * FEE_NUMERATOR
    return with_fee * reserve_out // (reserve_in * FEE_DENOMINATOR + with_fee)


@dataclass(frozen=True)
class SwapPlan:
    """An exact-input swap: the calls to send in order and what they were quoted at."""

    calls: tuple[ContractCall, ...]
    path: tuple[str, ...]
    amount_in: int
    quoted_out: int
    min_out: int
    deadline: int


class UniswapV2Router:
    """One Router02 and the factory and pairs behind it."""

    def __init__(self, w3: Web3, router_address: str) -> None:
        self.w3 = w3
        self.router = w3.eth.contract(
            address=Web3.to_checksum_address(router_address), abi=UNISWAP_V2_ROUTER
        )
        self.address = self.router.address
        self._pairs: dict[frozenset[str], tuple] = {}

    @cached_property
    def factory(self):
        address = self.router.functions.factory().call()
        return self.w3.eth.contract(address=address, abi=UNISWAP_V2_FACTORY)

    def pair_address(self, token_a: str, token_b: str) -> str | None:
        """The pair of two tokens, or None if there is none."""
        pair = self.factory.functions.getPair(
            Web3.to_checksum_address(token_a), Web3.to_checksum_address(token_b)
        ).call()
        return None if int(pair, 16) == 0 else pair

    def pair(self, token_a: str, token_b: str):
        address = self.pair_address(token_a, token_b)
        if address is None:
            raise LookupError(f"no Uniswap V2 pair for {token_a} and {token_b}")
        return self.w3.eth.contract(address=address, abi=UNISWAP_V2_PAIR)

    def reserves(self, token_in: str, token_out: str) -> tuple[int, int]:
        """(reserve of token_in, reserve of token_out) in base units."""
        pair, token0 = self._pair_and_token0(token_in, token_out)
        reserve0, reserve1, _ = pair.functions.getReserves().call()
        if token0 == Web3.to_checksum_address(token_in):
            return reserve0, reserve1
        return reserve1, reserve0

    def _pair_and_token0(self, token_in: str, token_out: str):
        """A pair's contract and its token0, looked up once (a pair's address never changes)."""
        key = frozenset((Web3.to_checksum_address(token_in), Web3.to_checksum_address(token_out)))
        known = self._pairs.get(key)
        if known is None:
            pair = self.pair(token_in, token_out)
            known = self._pairs[key] = (pair, pair.functions.token0().call())
        return known

    def amounts_out(self, amount_in: int, path: list[str] | tuple[str, ...]) -> list[int]:
        """getAmountsOut: the amount at every hop of ``path`` for ``amount_in``."""
        return self.router.functions.getAmountsOut(amount_in, _checksummed(path)).call()

    def swap_exact_in(
        self,
        *,
        amount_in: int,
        amount_out_min: int,
        path: list[str] | tuple[str, ...],
        to: str,
        deadline: int,
    ) -> ContractCall:
        """swapExactTokensForTokens; the caller must have approved ``amount_in`` to the router."""
        if amount_out_min <= 0:
            raise ValueError("a swap needs amount_out_min > 0: a swap without one takes any price")
        return call_of(
            self.router,
            "swapExactTokensForTokens",
            [amount_in, amount_out_min, _checksummed(path), Web3.to_checksum_address(to), deadline],
            f"swap {amount_in} of {path[0]} for at least {amount_out_min} of {path[-1]}",
        )

    def plan_swap_exact_in(
        self,
        *,
        amount_in: int,
        path: list[str] | tuple[str, ...],
        to: str,
        max_slippage_bps: float,
        deadline: int,
    ) -> SwapPlan:
        """Quote now, then approve exactly ``amount_in`` and swap with the slippage allowed."""
        if not 0 <= max_slippage_bps < 10_000:
            raise ValueError(f"max_slippage_bps must be in [0, 10000), got {max_slippage_bps}")
        quoted = self.amounts_out(amount_in, path)[-1]
        min_out = quoted * round((10_000 - max_slippage_bps) * 100) // 1_000_000
        approve = Erc20(self.w3, path[0]).approve_exact(
            self.address, amount_in, spender_name="router"
        )
        swap = self.swap_exact_in(
            amount_in=amount_in, amount_out_min=min_out, path=path, to=to, deadline=deadline
        )
        return SwapPlan(
            calls=(approve, swap),
            path=tuple(_checksummed(path)),
            amount_in=amount_in,
            quoted_out=quoted,
            min_out=min_out,
            deadline=deadline,
        )

    def add_liquidity(
        self,
        *,
        token_a: str,
        token_b: str,
        amount_a: int,
        amount_b: int,
        min_a: int,
        min_b: int,
        to: str,
        deadline: int,
    ) -> tuple[ContractCall, ...]:
        """Approve both amounts exactly, then addLiquidity."""
        return (
            Erc20(self.w3, token_a).approve_exact(self.address, amount_a, spender_name="router"),
            Erc20(self.w3, token_b).approve_exact(self.address, amount_b, spender_name="router"),
            call_of(
                self.router,
                "addLiquidity",
                [
                    Web3.to_checksum_address(token_a),
                    Web3.to_checksum_address(token_b),
                    amount_a,
                    amount_b,
                    min_a,
                    min_b,
                    Web3.to_checksum_address(to),
                    deadline,
                ],
                f"add liquidity {amount_a} of {token_a} and {amount_b} of {token_b}",
            ),
        )

    def remove_liquidity(
        self,
        *,
        token_a: str,
        token_b: str,
        liquidity: int,
        min_a: int,
        min_b: int,
        to: str,
        deadline: int,
    ) -> tuple[ContractCall, ...]:
        """Approve exactly ``liquidity`` LP tokens to the router, then removeLiquidity."""
        pair = Erc20(self.w3, self.pair(token_a, token_b).address)
        return (
            pair.approve_exact(self.address, liquidity, spender_name="router"),
            call_of(
                self.router,
                "removeLiquidity",
                [
                    Web3.to_checksum_address(token_a),
                    Web3.to_checksum_address(token_b),
                    liquidity,
                    min_a,
                    min_b,
                    Web3.to_checksum_address(to),
                    deadline,
                ],
                f"remove liquidity {liquidity} of pair {pair.address}",
            ),
        )


def _checksummed(path: list[str] | tuple[str, ...]) -> list[str]:
    return [Web3.to_checksum_address(token) for token in path]
