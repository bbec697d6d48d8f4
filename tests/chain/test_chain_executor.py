"""The chain executor on a real anvil: swaps booked from the chain, reconciliation, exactly once.

The treasury of the shared devnet (funded with CASH_USD of USDC) is imported into a keystore in
tmp_path, which the executor unlocks as it would in a run. Every balance is read off the chain.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr

from agents.executor_chain import ChainExecutor
from agents.executor_chain_config import ChainExecutorConfig
from agents.treasury import TreasuryAgent
from core.chain.adapters.erc20 import Erc20
from core.chain.deploy import QUOTE_TOKEN
from core.chain.devnet import Devnet
from core.chain.keys import Keystore
from core.chain.tx import ContractCall
from core.models import Bar, Order, Side
from state.chain_intents import ChainIntentStore
from state.db import make_engine
from state.orders import OrderStore
from tests.chain.conftest import CASH_USD, PRICES

PASSWORD = SecretStr("test-password-for-the-executor")
START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def keys_dir(tmp_path, treasury: LocalAccount):
    directory = tmp_path / "keys"
    Keystore(directory, scrypt_n=2**4).import_key("treasury", treasury.key.hex(), PASSWORD)
    return directory


def executor_config(chain: Devnet, keys_dir, **overrides) -> ChainExecutorConfig:
    deployment = chain.deployment
    values = {
        "mode": "devnet", "rpc_url": SecretStr(chain.anvil.rpc_url), "router": deployment.router,
        "quote_token": deployment.tokens[QUOTE_TOKEN],
        "tokens": {a: deployment.tokens[deployment.token_for_feed(a)] for a in PRICES},
        "key_name": "treasury", "keys_dir": keys_dir, "max_slippage_bps": 100, "gas_cap_wei": 10**12,
        "receipt_timeout_s": 5,
    }
    return ChainExecutorConfig(**{**values, **overrides})


def order(decision: str, side: Side, *, tick: int, notional: float,
          quantity: float | None = None) -> Order:
    return Order(order_id=f"o-{decision}", decision_id=decision, tick=tick, created_at=START,
                 asset="ETH", side=side, notional_usd=notional, quantity=quantity, mode="devnet")


def bars(tick: int) -> dict[str, Bar]:
    price = PRICES["ETH"]
    ts = START + timedelta(hours=tick)
    return {"ETH": Bar(asset="ETH", ts=ts, open=price, high=price, low=price, close=price, volume=1e6)}


@pytest.fixture
def setup(chain: Devnet, keys_dir, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'run.db'}"
    executor = ChainExecutor(executor_config(chain, keys_dir), db_url=db_url, password=PASSWORD)
    treasury = TreasuryAgent(cash_usd=CASH_USD, start=START)
    return executor, treasury, db_url


def test_a_buy_and_a_sell_are_booked_as_the_chain_moved_them(chain, setup, treasury):
    executor, books, _ = setup
    usdc = Erc20(chain.w3, chain.deployment.tokens[QUOTE_TOKEN])
    weth = Erc20(chain.w3, chain.deployment.tokens["WETH"])
    assert executor.submit(order("buy-1", Side.BUY, tick=0, notional=30_000))
    assert executor.settle(tick=0, bars=bars(0)) == []  # placed at tick 0: fills at tick 1
    [fill] = executor.settle(tick=1, bars=bars(1))
    bought = weth.balance_of(treasury.address)
    assert fill.quantity == pytest.approx(bought / 1e18, rel=1e-15)
    assert usdc.balance_of(treasury.address) == (CASH_USD - 30_000) * 10**6
    # 30k into a 10M-deep pool: the 0.3% fee as fee, the price impact as slippage (about 0.3%)
    assert fill.fee_usd == pytest.approx(90.0)
    assert 20 < fill.slippage_bps < 40
    portfolio = books.apply([fill])
    assert executor.reconcile(portfolio) == []

    assert executor.submit(order("sell-1", Side.SELL, tick=1, notional=1, quantity=fill.quantity))
    [sale] = executor.settle(tick=2, bars=bars(2))
    portfolio = books.apply([sale])
    assert weth.balance_of(treasury.address) == 0
    assert portfolio.cash_usd == pytest.approx(usdc.balance_of(treasury.address) / 1e6, abs=1e-6)
    assert executor.reconcile(portfolio) == []
    assert executor.balances()["USD"] == Decimal(usdc.balance_of(treasury.address)).scaleb(-6)


def test_the_swap_carries_the_quote_less_the_slippage_and_a_deadline_within_120_s(chain, setup):
    executor, _, db_url = setup
    executor.submit(order("buy-2", Side.BUY, tick=0, notional=10_000))
    executor.settle(tick=1, bars=bars(1))
    intents = ChainIntentStore(make_engine(db_url))
    approve, swap = intents.get("buy-2:approve"), intents.get("buy-2:swap")
    assert (approve.nonce, swap.nonce) == (approve.nonce, approve.nonce + 1)
    _, approved = executor.quote.contract.decode_function_input(
        ContractCall.model_validate_json(approve.call_json).data)
    _, args = executor.router.router.decode_function_input(
        ContractCall.model_validate_json(swap.call_json).data)
    assert list(approved.values())[1] == args["amountIn"] == 10_000 * 10**6  # exact approval
    receipt = chain.w3.eth.get_transaction_receipt(swap.tx_hash)
    mined_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert 0 < args["deadline"] - mined_at <= 120
    # amountOutMin is the quote less 1%: the fill got about 0.1% less than the quote (impact)
    received = executor.tokens["ETH"].balance_of(executor.address)
    assert args["amountOutMin"] == pytest.approx(received * 0.99, rel=2e-3)
    assert args["amountOutMin"] < received


def test_a_treasury_that_books_more_than_the_chain_holds_is_a_mismatch(setup):
    executor, books, _ = setup
    portfolio = books.portfolio().model_copy(update={"cash_usd": CASH_USD + 5})
    [problem] = executor.reconcile(portfolio)
    assert problem.startswith("USD: treasury books 1000005")
    assert executor.reconcile(books.portfolio()) == []


def test_a_restarted_executor_never_executes_a_decision_twice(chain, setup, keys_dir):
    executor, _, db_url = setup
    executor.submit(order("buy-3", Side.BUY, tick=0, notional=5_000))
    [fill] = executor.settle(tick=1, bars=bars(1))
    nonce = chain.w3.eth.get_transaction_count(executor.address)
    again = ChainExecutor(executor_config(chain, keys_dir), db_url=db_url, password=PASSWORD)
    assert not again.submit(order("buy-3", Side.BUY, tick=0, notional=5_000))
    assert again.settle(tick=2, bars=bars(2)) == []
    assert chain.w3.eth.get_transaction_count(executor.address) == nonce  # nothing new signed
    _, status, stored = OrderStore(make_engine(db_url)).by_decision("buy-3")
    assert status == "filled"
    assert stored == fill


def test_a_sale_of_a_token_not_held_fails_its_order_and_is_not_retried(chain, setup):
    executor, _, db_url = setup
    executor.submit(order("sell-none", Side.SELL, tick=0, notional=1_000, quantity=1.0))
    assert executor.settle(tick=1, bars=bars(1)) == []
    _, status, _ = OrderStore(make_engine(db_url)).by_decision("sell-none")
    assert status == "failed"
    assert executor.failed == ["sell-none"]
    assert executor.settle(tick=2, bars=bars(2)) == []  # not retried


def test_fees_above_the_policy_gas_cap_sign_nothing_and_fail_the_order(chain, keys_dir, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'capped.db'}"
    capped = ChainExecutor(executor_config(chain, keys_dir, gas_cap_wei=1), db_url=db_url,
                           password=PASSWORD)
    nonce = chain.w3.eth.get_transaction_count(capped.address)
    capped.submit(order("buy-capped", Side.BUY, tick=0, notional=1_000))
    assert capped.settle(tick=1, bars=bars(1)) == []
    assert capped.failed == ["buy-capped"]
    assert chain.w3.eth.get_transaction_count(capped.address) == nonce
    assert ChainIntentStore(make_engine(db_url)).get("buy-capped:approve") is None


def test_a_wrong_password_is_a_clear_error_without_the_password(chain, keys_dir, tmp_path):
    from core.chain.keys import KeystoreError

    with pytest.raises(KeystoreError, match="wrong password for key 'treasury'") as raised:
        ChainExecutor(executor_config(chain, keys_dir), db_url=f"sqlite:///{tmp_path / 'x.db'}",
                      password=SecretStr("not-it"))
    assert "not-it" not in str(raised.value)


def test_a_deposit_earns_the_pools_interest_and_a_withdrawal_brings_it_back(chain, keys_dir,
                                                                          tmp_path, treasury):
    from agents.executor_chain_config import LendingReserve
    from core.chain.adapters.aave_v3 import AaveV3Pool
    from core.chain.anvil import increase_time

    usdc_address = chain.deployment.tokens[QUOTE_TOKEN]
    config = executor_config(chain, keys_dir, lending={
        "AUSDC": LendingReserve(pool=chain.deployment.pool, asset=usdc_address)})
    executor = ChainExecutor(config, db_url=f"sqlite:///{tmp_path / 'lend.db'}", password=PASSWORD)
    books = TreasuryAgent(cash_usd=CASH_USD, start=START)
    deposit = order("lend-1", Side.BUY, tick=0, notional=50_000).model_copy(
        update={"asset": "AUSDC"})
    executor.submit(deposit)
    [lent] = executor.settle(tick=1, bars=bars(1))
    assert lent.asset == "AUSDC" and lent.fee_usd == 0
    assert lent.quantity * lent.price == pytest.approx(50_000, rel=1e-12)
    assert executor.reconcile(books.apply([lent])) == []

    increase_time(chain.w3, 365 * 86_400)  # a year at the devnet's 5% USDC rate
    prices = executor.receipt_prices()
    assert prices["AUSDC"] == pytest.approx(1.05, rel=1e-3)
    marked = books.mark(tick=2, ts=START, prices={"ETH": PRICES["ETH"], **prices})
    assert marked.equity_usd == pytest.approx(CASH_USD + 50_000 * 0.05, rel=1e-6)
    assert executor.reconcile(marked) == []

    held = marked.quantity("AUSDC")
    withdrawal = order("lend-2", Side.SELL, tick=2, notional=1, quantity=held).model_copy(
        update={"asset": "AUSDC"})
    executor.submit(withdrawal)
    [back] = executor.settle(tick=3, bars=bars(3))
    after = books.apply([back])
    assert after.quantity("AUSDC") == 0 and "AUSDC" not in after.positions
    assert AaveV3Pool(chain.w3, chain.deployment.pool).supplied(usdc_address, treasury.address) == 0
    assert executor.reconcile(after) == []
    assert after.realized_pnl_usd == pytest.approx(2_500, rel=1e-3)  # the interest
