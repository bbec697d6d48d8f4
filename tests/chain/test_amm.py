"""The AMM through the Uniswap V2 adapter: swaps, quotes, slippage and deadline guards, liquidity.

Expected amounts come from the Uniswap V2 formula written out here, not from Quorum's code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.chain.adapters.erc20 import Erc20
from core.chain.compile import compile_contract
from core.chain.deploy import fund
from core.chain.devnet import Devnet
from core.chain.errors import TransactionReverted
from core.chain.tx import ContractCall, ServiceSender, call_of


def reference_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Uniswap V2: 0.3% of the input stays in the pool, the rest trades on x·y = k."""
    return amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)


def deadline(chain: Devnet, seconds: int = 600) -> int:
    return chain.w3.eth.get_block("latest")["timestamp"] + seconds


def test_swap_round_trip_pays_the_fee_and_follows_the_constant_product(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    usdc, weth = chain.deployment.tokens["USDC"], chain.deployment.tokens["WETH"]
    me = treasury_sender.address
    usdc_token, weth_token = Erc20(chain.w3, usdc), Erc20(chain.w3, weth)
    usdc_start = usdc_token.balance_of(me)
    r_usdc, r_weth = chain.router.reserves(usdc, weth)
    amount_in = 100_000 * 10**6

    plan = chain.router.plan_swap_exact_in(
        amount_in=amount_in, path=[usdc, weth], to=me, max_slippage_bps=50, deadline=deadline(chain)
    )
    for call in plan.calls:
        treasury_sender.send(call)
    weth_out = weth_token.balance_of(me)

    assert weth_out == reference_out(amount_in, r_usdc, r_weth) == plan.quoted_out
    assert plan.min_out == plan.quoted_out * 9950 // 10_000
    assert usdc_token.balance_of(me) == usdc_start - amount_in
    assert chain.router.reserves(usdc, weth) == (r_usdc + amount_in, r_weth - weth_out)
    # The fee: the output keeps k with 99.7% of the input, and not one base unit more.
    assert (r_usdc * 1000 + amount_in * 997) * (r_weth - weth_out) >= r_usdc * r_weth * 1000
    assert (r_usdc * 1000 + amount_in * 997) * (r_weth - weth_out - 1) < r_usdc * r_weth * 1000
    assert weth_out < amount_in * r_weth // (r_usdc + amount_in)  # less than without the fee
    assert usdc_token.allowance(me, chain.router.address) == 0  # the approval was exact

    r_weth2, r_usdc2 = chain.router.reserves(weth, usdc)
    plan_back = chain.router.plan_swap_exact_in(
        amount_in=weth_out, path=[weth, usdc], to=me, max_slippage_bps=50, deadline=deadline(chain)
    )
    for call in plan_back.calls:
        treasury_sender.send(call)
    usdc_back = reference_out(weth_out, r_weth2, r_usdc2)
    assert usdc_token.balance_of(me) == usdc_start - amount_in + usdc_back
    assert weth_token.balance_of(me) == 0
    # Two 0.3% fees: the price impact of the first swap is mostly undone by the second.
    assert 1 - usdc_back / amount_in == pytest.approx(1 - 0.997**2, rel=0.02)


def test_get_amounts_out_equals_what_a_two_hop_swap_delivers(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    tokens = chain.deployment.tokens
    path = [tokens["WETH"], tokens["USDC"], tokens["WBTC"]]
    fund(
        chain.deployer,
        chain.deployment,
        address=treasury_sender.address,
        tokens={"WETH": 10},
        ether=1,
    )
    quoted = chain.router.amounts_out(10 * 10**18, path)
    plan = chain.router.plan_swap_exact_in(
        amount_in=10 * 10**18,
        path=path,
        to=treasury_sender.address,
        max_slippage_bps=0,
        deadline=deadline(chain),
    )
    for call in plan.calls:
        treasury_sender.send(call)
    assert Erc20(chain.w3, tokens["WBTC"]).balance_of(treasury_sender.address) == quoted[-1]
    assert quoted[0] == 10 * 10**18 and len(quoted) == 3


def test_a_swap_whose_minimum_output_is_not_met_reverts_and_moves_nothing(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    usdc, weth = chain.deployment.tokens["USDC"], chain.deployment.tokens["WETH"]
    quote = chain.router.amounts_out(10**9, [usdc, weth])[-1]
    treasury_sender.send(
        Erc20(chain.w3, usdc).approve_exact(chain.router.address, 10**9, spender_name="router")
    )
    reserves = chain.router.reserves(usdc, weth)
    too_high = chain.router.swap_exact_in(
        amount_in=10**9,
        amount_out_min=quote + 1,
        path=[usdc, weth],
        to=treasury_sender.address,
        deadline=deadline(chain),
    )
    with pytest.raises(TransactionReverted, match="UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"):
        treasury_sender.send(too_high)
    assert chain.router.reserves(usdc, weth) == reserves


def test_a_swap_after_its_deadline_reverts(chain: Devnet, treasury_sender: ServiceSender) -> None:
    usdc, weth = chain.deployment.tokens["USDC"], chain.deployment.tokens["WETH"]
    treasury_sender.send(
        Erc20(chain.w3, usdc).approve_exact(chain.router.address, 10**9, spender_name="router")
    )
    expired = chain.router.swap_exact_in(
        amount_in=10**9,
        amount_out_min=1,
        path=[usdc, weth],
        to=treasury_sender.address,
        deadline=deadline(chain, seconds=-1),
    )
    with pytest.raises(TransactionReverted, match="UniswapV2Router: EXPIRED"):
        treasury_sender.send(expired)


def test_a_swap_without_a_minimum_output_is_refused(chain: Devnet) -> None:
    usdc, weth = chain.deployment.tokens["USDC"], chain.deployment.tokens["WETH"]
    with pytest.raises(ValueError, match="amount_out_min > 0"):
        chain.router.swap_exact_in(
            amount_in=10**9, amount_out_min=0, path=[usdc, weth], to=usdc, deadline=2**40
        )


def test_liquidity_added_at_the_pool_ratio_comes_back_pro_rata(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    usdc, weth = chain.deployment.tokens["USDC"], chain.deployment.tokens["WETH"]
    me = treasury_sender.address
    fund(chain.deployer, chain.deployment, address=me, tokens={"WETH": 10}, ether=1)
    pair = chain.router.pair(weth, usdc)
    r_weth, r_usdc = chain.router.reserves(weth, usdc)
    supply = pair.functions.totalSupply().call()
    weth_in = 10 * 10**18
    usdc_in = weth_in * r_usdc // r_weth + 1_000_000  # a little more than the ratio needs
    for call in chain.router.add_liquidity(
        token_a=weth,
        token_b=usdc,
        amount_a=weth_in,
        amount_b=usdc_in,
        min_a=weth_in,
        min_b=1,
        to=me,
        deadline=deadline(chain),
    ):
        treasury_sender.send(call)
    usdc_used = weth_in * r_usdc // r_weth  # the router's quote(): only what the ratio needs
    liquidity = min(weth_in * supply // r_weth, usdc_used * supply // r_usdc)
    assert pair.functions.balanceOf(me).call() == liquidity
    assert chain.router.reserves(weth, usdc) == (r_weth + weth_in, r_usdc + usdc_used)

    weth_token, usdc_token = Erc20(chain.w3, weth), Erc20(chain.w3, usdc)
    weth_before, usdc_before = weth_token.balance_of(me), usdc_token.balance_of(me)
    r_weth, r_usdc = chain.router.reserves(weth, usdc)
    supply = pair.functions.totalSupply().call()
    for call in chain.router.remove_liquidity(
        token_a=weth,
        token_b=usdc,
        liquidity=liquidity,
        min_a=1,
        min_b=1,
        to=me,
        deadline=deadline(chain),
    ):
        treasury_sender.send(call)
    assert pair.functions.balanceOf(me).call() == 0
    assert weth_token.balance_of(me) - weth_before == liquidity * r_weth // supply
    assert usdc_token.balance_of(me) - usdc_before == liquidity * r_usdc // supply
    assert weth_token.balance_of(me) - weth_before == pytest.approx(weth_in, rel=1e-12)


def test_the_pair_refuses_a_swap_that_pays_out_more_than_the_fee_allows(
    chain: Devnet, treasury_sender: ServiceSender, contract_cache: Path
) -> None:
    """Straight to the pair, bypassing the router: its k check is what enforces the 0.3% fee."""
    usdc, weth = chain.deployment.tokens["USDC"], chain.deployment.tokens["WETH"]
    pair_address = chain.router.pair_address(usdc, weth)
    pair = chain.w3.eth.contract(
        address=pair_address, abi=compile_contract("Pair", cache_dir=contract_cache).abi
    )
    r_usdc, r_weth = chain.router.reserves(usdc, weth)
    amount_in = 50_000 * 10**6
    treasury_sender.send(Erc20(chain.w3, usdc).transfer(pair_address, amount_in))
    fair = reference_out(amount_in, r_usdc, r_weth)
    weth_is_token0 = pair.functions.token0().call() == weth

    def swap(out: int) -> ContractCall:
        outs = [out, 0] if weth_is_token0 else [0, out]
        return call_of(pair, "swap", [*outs, treasury_sender.address, b""], f"take {out} WETH")

    with pytest.raises(TransactionReverted, match="UniswapV2: K"):
        treasury_sender.send(swap(fair + 1))
    treasury_sender.send(swap(fair))
    assert Erc20(chain.w3, weth).balance_of(treasury_sender.address) == fair
