"""The devnet's arbitrageur: one swap per pool per tick puts the pool's price on the feed's.

Real arbitrage keeps a pool near the market; here a funded service account does it exactly, so
Quorum's own swaps meet the feed's price plus the slippage their size causes. The input is
solved from the reserves in integers (the 0.3% fee included), so one swap lands on the target
to within rounding. It trades only on a chain Quorum started, from its own service account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import isqrt

from core.chain.adapters.erc20 import Erc20
from core.chain.adapters.uniswap_v2 import UniswapV2Router, amount_out
from core.chain.deploy import QUOTE_TOKEN, Deployment
from core.chain.tx import ServiceSender
from core.logging import get_logger

log = get_logger(__name__)

TopUp = Callable[[str, int], None]
"""Called with (token symbol, base units) when the arbitrageur holds less than a swap needs."""


def input_to_reach(*, reserve_in: int, reserve_out: int, target_ratio: Fraction) -> int:
    """The input that leaves reserve_in / reserve_out at ``target_ratio`` after one fee-paying swap.

    With fee factor g = 0.997, input d and output g·d·R/(r + g·d), the new ratio is
    (r + d)(r + g·d) / (r·R); this solves g·d² + (1 + g)·r·d + r² − T·r·R = 0 for d.
    0 when the ratio is already at or above the target (the swap would go the other way).
    """
    num, den = target_ratio.numerator, target_ratio.denominator
    a = 997 * den
    b = 1997 * den * reserve_in
    c = 1000 * reserve_in * (den * reserve_in - num * reserve_out)
    if c >= 0:
        return 0
    return (isqrt(b * b - 4 * a * c) - b) // (2 * a)


@dataclass(frozen=True)
class Alignment:
    """What one alignment did: prices in USDC per token, amounts in base units."""

    symbol: str
    target_price: float
    price_before: float
    price_after: float
    token_in: str | None
    amount_in: int
    amount_out: int
    tx_hash: str | None


class Arbitrageur:
    """Aligns the devnet's SYMBOL/USDC pools with target prices from a funded service account."""

    def __init__(
        self,
        *,
        sender: ServiceSender,
        deployment: Deployment,
        top_up: TopUp | None = None,
        tolerance_bps: float = 0.1,
    ) -> None:
        self.sender = sender
        self.deployment = deployment
        self.router = UniswapV2Router(sender.w3, deployment.router)
        self.top_up = top_up
        self.tolerance = Fraction(Decimal(str(tolerance_bps))) / 10_000

    def pool_price(self, symbol: str) -> Fraction:
        """The pool's price of SYMBOL in USDC (whole tokens), exact."""
        base, quote = self.deployment.tokens[symbol], self.deployment.tokens[QUOTE_TOKEN]
        reserve_base, reserve_quote = self.router.reserves(base, quote)
        return self._to_price(symbol, Fraction(reserve_quote, reserve_base))

    def align(self, *, symbol: str, target_price: float) -> Alignment:
        """Swap once so the SYMBOL/USDC pool's price equals ``target_price``."""
        if not target_price > 0:
            raise ValueError(f"target price of {symbol} must be positive, got {target_price}")
        tokens = self.deployment.tokens
        base, quote = tokens[symbol], tokens[QUOTE_TOKEN]
        reserve_base, reserve_quote = self.router.reserves(base, quote)
        before = self._to_price(symbol, Fraction(reserve_quote, reserve_base))
        target = Fraction(Decimal(str(target_price)))
        if abs(before / target - 1) <= self.tolerance:
            return Alignment(symbol, target_price, float(before), float(before), None, 0, 0, None)
        target_raw = target * self._raw_per_price(symbol)  # USDC base units per base unit
        if before < target:  # cheap in the pool: buy it with USDC
            token_in, token_out, reserve_in, reserve_out = (
                QUOTE_TOKEN,
                symbol,
                reserve_quote,
                reserve_base,
            )
            ratio = target_raw
        else:  # dear in the pool: sell it for USDC
            token_in, token_out, reserve_in, reserve_out = (
                symbol,
                QUOTE_TOKEN,
                reserve_base,
                reserve_quote,
            )
            ratio = 1 / target_raw
        amount_in = input_to_reach(
            reserve_in=reserve_in, reserve_out=reserve_out, target_ratio=ratio
        )
        out = amount_out(amount_in, reserve_in, reserve_out) if amount_in > 0 else 0
        if out == 0:
            return Alignment(symbol, target_price, float(before), float(before), None, 0, 0, None)
        tx_hash = self._swap(tokens[token_in], tokens[token_out], token_in, amount_in, out)
        after = self.pool_price(symbol)
        log.debug(
            "chain.arbitrage.aligned",
            symbol=symbol,
            target=target_price,
            before=float(before),
            after=float(after),
            token_in=token_in,
            amount_in=amount_in,
        )
        return Alignment(
            symbol, target_price, float(before), float(after), token_in, amount_in, out, tx_hash
        )

    def _swap(
        self, address_in: str, address_out: str, symbol_in: str, amount_in: int, out: int
    ) -> str:
        token = Erc20(self.sender.w3, address_in)
        held = token.balance_of(self.sender.address)
        if held < amount_in:
            if self.top_up is None:
                raise ValueError(
                    f"the arbitrageur holds {held} of {symbol_in} and needs {amount_in}; fund it"
                )
            self.top_up(symbol_in, amount_in - held)
        deadline = self.sender.w3.eth.get_block("latest")["timestamp"] + 300
        self.sender.send(token.approve_exact(self.router.address, amount_in, spender_name="router"))
        receipt = self.sender.send(
            self.router.swap_exact_in(
                amount_in=amount_in,
                amount_out_min=out,
                path=[address_in, address_out],
                to=self.sender.address,
                deadline=deadline,
            )
        )
        return receipt["transactionHash"].to_0x_hex()

    def _raw_per_price(self, symbol: str) -> Fraction:
        decimals = self.deployment.decimals
        return Fraction(10 ** decimals[QUOTE_TOKEN], 10 ** decimals[symbol])

    def _to_price(self, symbol: str, raw_ratio: Fraction) -> Fraction:
        return raw_ratio / self._raw_per_price(symbol)
