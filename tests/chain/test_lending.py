"""The lending pool through the Aave V3 adapter: supply, interest with block time, withdraw.

Expected amounts come from Aave's index math written out here (WadRayMath, linear interest).
"""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from core.chain.adapters.aave_v3 import WITHDRAW_ALL
from core.chain.adapters.erc20 import Erc20
from core.chain.anvil import increase_time
from core.chain.devnet import Devnet
from core.chain.errors import TransactionReverted
from core.chain.tx import ServiceSender

RAY = 10**27
YEAR = 365 * 24 * 3600


def ray_mul(a: int, b: int) -> int:
    return (a * b + RAY // 2) // RAY


def ray_div(a: int, b: int) -> int:
    return (a * RAY + b // 2) // b


def grown(index: int, rate: int, seconds: int) -> int:
    return ray_mul(RAY + rate * seconds // YEAR, index)


def block_time(chain: Devnet, receipt) -> int:
    return chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]


def test_supply_then_withdraw_after_a_month_returns_principal_plus_index_interest(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    usdc = chain.deployment.tokens["USDC"]
    me = treasury_sender.address
    token = Erc20(chain.w3, usdc)
    start = token.balance_of(me)
    principal = 100_000 * 10**6
    increase_time(chain.w3, 3 * 24 * 3600)  # the index has grown since deployment
    calls = chain.lending.supply(asset=usdc, amount=principal, on_behalf_of=me)
    for call in calls:
        supplied = treasury_sender.send(call)
    (event,) = chain.lending.pool.events.Supply().process_receipt(supplied, errors=DISCARD)
    assert (event.args.reserve, event.args.onBehalfOf, event.args.amount) == (usdc, me, principal)
    assert token.allowance(me, chain.lending.address) == 0  # the approval was exact
    at_supply = chain.lending.reserve_data(usdc)
    t0 = block_time(chain, supplied)
    assert at_supply.lastUpdateTimestamp == t0 and at_supply.liquidityIndex > RAY
    scaled = ray_div(principal, at_supply.liquidityIndex)
    a_token = chain.lending.a_token(usdc)
    assert a_token.functions.scaledBalanceOf(me).call() == scaled

    increase_time(chain.w3, 30 * 24 * 3600)
    now = chain.w3.eth.get_block("latest")["timestamp"]
    rate = at_supply.currentLiquidityRate
    assert rate == 5 * RAY // 100
    assert chain.lending.normalized_income(usdc) == grown(at_supply.liquidityIndex, rate, now - t0)
    assert chain.lending.supplied(usdc, me) == ray_mul(
        scaled, grown(at_supply.liquidityIndex, rate, now - t0)
    )

    withdrawn = treasury_sender.send(chain.lending.withdraw(asset=usdc, amount=WITHDRAW_ALL, to=me))
    t1 = block_time(chain, withdrawn)
    index = grown(at_supply.liquidityIndex, rate, t1 - t0)
    expected = ray_mul(scaled, index)
    assert token.balance_of(me) == start - principal + expected
    interest = expected - principal
    assert interest == pytest.approx(principal * 0.05 * (t1 - t0) / YEAR, rel=1e-3)
    assert 410 * 10**6 < interest < 412 * 10**6  # ~5 %/year for 30 days on 100,000
    after = chain.lending.reserve_data(usdc)
    assert (after.liquidityIndex, after.lastUpdateTimestamp) == (index, t1)
    assert a_token.functions.scaledBalanceOf(me).call() == 0
    (event,) = chain.lending.pool.events.Withdraw().process_receipt(withdrawn, errors=DISCARD)
    assert (event.args.user, event.args.to, event.args.amount) == (me, me, expected)


def test_get_reserve_data_describes_each_reserve_in_aave_layout(chain: Devnet) -> None:
    tokens = chain.deployment.tokens
    for reserve_id, (symbol, rate) in enumerate([("USDC", 5), ("WETH", 2), ("WBTC", 1)]):
        data = chain.lending.reserve_data(tokens[symbol])
        assert data.id == reserve_id
        assert data.aTokenAddress == chain.deployment.a_tokens[symbol]
        assert data.currentLiquidityRate == rate * RAY // 100
        assert data.liquidityIndex >= RAY
        assert data.configuration == (0,) and data.unbacked == 0
    assert chain.lending.pool.functions.getReservesList().call() == [
        tokens["USDC"],
        tokens["WETH"],
        tokens["WBTC"],
    ]


def test_a_partial_withdrawal_leaves_the_rest_earning(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    usdc = chain.deployment.tokens["USDC"]
    me = treasury_sender.address
    a_token = chain.lending.a_token(usdc)
    held = a_token.functions.scaledBalanceOf(me).call()
    for call in chain.lending.supply(asset=usdc, amount=50_000 * 10**6, on_behalf_of=me):
        supplied = treasury_sender.send(call)
    at_supply = chain.lending.reserve_data(usdc)
    withdrawn = treasury_sender.send(chain.lending.withdraw(asset=usdc, amount=20_000 * 10**6, to=me))
    # The blocks may land in different seconds (a slow machine), so the interest between them
    # comes from their timestamps, not from an allowance for "a few seconds".
    t0, t1 = block_time(chain, supplied), block_time(chain, withdrawn)
    rate = at_supply.currentLiquidityRate
    at_withdrawal = grown(at_supply.liquidityIndex, rate, t1 - t0)
    scaled = held + ray_div(50_000 * 10**6, at_supply.liquidityIndex)
    scaled -= ray_div(20_000 * 10**6, at_withdrawal)
    assert a_token.functions.scaledBalanceOf(me).call() == scaled
    now = chain.w3.eth.get_block("latest")["timestamp"]
    left = chain.lending.supplied(usdc, me)
    assert left == ray_mul(scaled, grown(at_withdrawal, rate, now - t1))
    if held == 0:  # 30,000 plus the interest of 50,000 for t1 - t0 seconds, give or take a unit
        earned = 50_000 * 10**6 * 5 * (t1 - t0) // (100 * YEAR)
        assert abs(left - (30_000 * 10**6 + earned)) <= 2
    increase_time(chain.w3, YEAR)
    assert chain.lending.supplied(usdc, me) == pytest.approx(left * 1.05, rel=1e-4)


def test_withdrawing_more_than_supplied_reverts(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    usdc = chain.deployment.tokens["USDC"]
    me = treasury_sender.address
    for call in chain.lending.supply(asset=usdc, amount=1_000 * 10**6, on_behalf_of=me):
        treasury_sender.send(call)
    with pytest.raises(TransactionReverted, match="NOT_ENOUGH_AVAILABLE_USER_BALANCE"):
        treasury_sender.send(chain.lending.withdraw(asset=usdc, amount=2_000 * 10**6, to=me))
