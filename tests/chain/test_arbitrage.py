"""The arbitrageur puts each pool on the feed's price with one swap."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.chain.arbitrage import Arbitrageur, input_to_reach
from core.chain.devnet import Devnet
from core.chain.tx import ServiceSender


def swapped_ratio(amount_in: int, reserve_in: int, reserve_out: int) -> Fraction:
    out = amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)
    return Fraction(reserve_in + amount_in, reserve_out - out)


@settings(max_examples=300, deadline=None)
@given(
    reserve_in=st.integers(10**12, 10**30),
    reserve_out=st.integers(10**12, 10**30),
    move=st.floats(1.0001, 10.0),
)
def test_the_solved_input_lands_the_ratio_on_the_target(
    reserve_in: int, reserve_out: int, move: float
) -> None:
    target = Fraction(reserve_in, reserve_out) * Fraction(move)
    amount_in = input_to_reach(reserve_in=reserve_in, reserve_out=reserve_out, target_ratio=target)
    assert amount_in > 0
    landed = swapped_ratio(amount_in, reserve_in, reserve_out)
    assert abs(landed / target - 1) < Fraction(1, 10**8)
    # One base unit less would fall short of the target, so the input is not overpaid.
    assert swapped_ratio(amount_in - 1, reserve_in, reserve_out) <= landed


def test_no_input_moves_a_ratio_the_wrong_way() -> None:
    assert input_to_reach(reserve_in=10**18, reserve_out=10**18, target_ratio=Fraction(1, 2)) == 0
    assert input_to_reach(reserve_in=10**18, reserve_out=10**18, target_ratio=Fraction(1)) == 0


@pytest.mark.parametrize(
    ("symbol", "target", "token_in"),
    [
        ("WETH", 3_150.0, "USDC"),
        ("WETH", 2_400.0, "WETH"),
        ("WBTC", 57_123.45, "WBTC"),
        ("WBTC", 120_000.0, "USDC"),
    ],
)
def test_align_puts_the_pool_price_on_the_target(
    chain: Devnet, symbol: str, target: float, token_in: str
) -> None:
    result = chain.arbitrageur.align(symbol=symbol, target_price=target)
    assert result.token_in == token_in and result.tx_hash is not None
    on_chain = chain.arbitrageur.pool_price(symbol)
    assert abs(on_chain / Fraction(target) - 1) < Fraction(1, 10**9)
    assert result.price_after == pytest.approx(target, rel=1e-9)


def test_the_devnet_aligns_every_pool_from_feed_symbols(chain: Devnet) -> None:
    results = chain.align({"ETH": 2_999.0, "BTC": 61_000.0})
    assert [r.symbol for r in results] == ["WETH", "WBTC"]
    assert float(chain.arbitrageur.pool_price("WETH")) == pytest.approx(2_999.0, rel=1e-9)
    assert float(chain.arbitrageur.pool_price("WBTC")) == pytest.approx(61_000.0, rel=1e-9)


def test_a_pool_on_target_is_left_alone(chain: Devnet) -> None:
    chain.arbitrageur.align(symbol="WETH", target_price=3_010.0)
    block = chain.w3.eth.block_number
    result = chain.arbitrageur.align(symbol="WETH", target_price=3_010.0)
    assert (result.tx_hash, result.amount_in) == (None, 0)
    assert chain.w3.eth.block_number == block


def test_an_unfunded_arbitrageur_says_what_it_lacks(chain: Devnet) -> None:
    broke = Arbitrageur(sender=ServiceSender.new_funded(chain.w3), deployment=chain.deployment)
    with pytest.raises(ValueError, match=r"holds 0 of USDC and needs \d+; fund it"):
        broke.align(symbol="WETH", target_price=3_500.0)
