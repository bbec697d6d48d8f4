"""A swap mined while the chain executor was down is booked by the restarted one, exactly once.

Executor A dies inside its transport (the real HTTP provider, crashing at one RPC call, as in
test_exactly_once) while sending a buy's swap; executor B, a new instance on the same database
and chain, must drive the recorded transaction to its end and report the fill through
``settle`` so the treasury books what the chain moved; a third instance reports nothing again.
Every quantity is read off the chain.
"""

from __future__ import annotations

import time

import pytest
from web3 import HTTPProvider

from agents.executor_chain import ChainExecutor
from agents.treasury import TreasuryAgent
from core.chain.adapters.erc20 import Erc20
from core.chain.anvil import increase_time
from core.chain.deploy import QUOTE_TOKEN
from core.chain.errors import ReceiptMissing
from core.models import Side
from state.chain_intents import ChainIntentStore
from state.db import make_engine
from state.orders import OrderStore
from tests.chain import test_chain_executor
from tests.chain.conftest import CASH_USD, PRICES
from tests.chain.test_chain_executor import (
    PASSWORD,
    START,
    bars,
    executor_config,
    order,
)
from tests.chain.test_exactly_once import CrashingProvider, SimulatedCrash

NOTIONAL_USD = 30_000
keys_dir = test_chain_executor.keys_dir  # the fixture: the devnet treasury in a keystore


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'restart.db'}"


def crash_while_sending_the_swap(chain, keys_dir, db_url, *, after_broadcast: bool) -> str:
    """Executor A submits a buy and dies at its second raw broadcast (the swap's; the first is
    the approval): just after the node took it, or just before. Returns the decision id."""
    doomed = ChainExecutor(executor_config(chain, keys_dir), db_url=db_url, password=PASSWORD)
    decision = f"buy-{'sent' if after_broadcast else 'unsent'}"
    assert doomed.submit(order(decision, Side.BUY, tick=0, notional=NOTIONAL_USD))
    doomed.w3.provider = CrashingProvider(chain.anvil.rpc_url, method="eth_sendRawTransaction",
                                          occurrence=2, after=after_broadcast)
    with pytest.raises(SimulatedCrash):
        doomed.settle(tick=1, bars=bars(1))
    _, status, _ = OrderStore(make_engine(db_url)).by_decision(decision)
    assert status == "intent"  # submitted, never booked
    return decision


def mined_block(chain) -> int:
    """The latest block once every transaction the node took has mined: anvil mines a raw
    transaction just after it answers, and a loaded machine read the block number between."""
    w3 = chain.w3
    for _ in range(200):
        if not w3.eth.get_block("pending")["transactions"]:
            return w3.eth.block_number
        time.sleep(0.05)
    raise AssertionError("a transaction never mined")


def restarted(chain, keys_dir, db_url) -> ChainExecutor:
    return ChainExecutor(executor_config(chain, keys_dir), db_url=db_url, password=PASSWORD)


def assert_booked_once_and_reconciled(chain, keys_dir, db_url, decision, executor):
    """B's first settle reports one fill of what the chain moved; nobody reports it again."""
    weth = Erc20(chain.w3, chain.deployment.tokens["WETH"])
    usdc = Erc20(chain.w3, chain.deployment.tokens[QUOTE_TOKEN])
    books = TreasuryAgent(cash_usd=CASH_USD, start=START)
    assert executor.reconcile(books.portfolio()) != []  # the chain moved what the books lack

    [fill] = executor.settle(tick=2, bars=bars(2))
    assert fill.decision_id == decision and fill.side is Side.BUY and fill.tick == 2
    assert fill.quantity == pytest.approx(weth.balance_of(executor.address) / 1e18, rel=1e-15)
    assert usdc.balance_of(executor.address) == (CASH_USD - NOTIONAL_USD) * 10**6
    assert executor.reconcile(books.apply([fill])) == []
    assert executor.settle(tick=3, bars=bars(3)) == []

    nonce = chain.w3.eth.get_transaction_count(executor.address, "pending")
    third = restarted(chain, keys_dir, db_url)
    assert third.settle(tick=4, bars=bars(4)) == []
    assert not third.submit(order(decision, Side.BUY, tick=4, notional=NOTIONAL_USD))
    assert chain.w3.eth.get_transaction_count(executor.address, "pending") == nonce
    _, status, stored = OrderStore(make_engine(db_url)).by_decision(decision)
    assert (status, stored) == ("filled", fill)


def test_a_swap_mined_after_the_crash_is_booked_by_the_restarted_executor(chain, keys_dir,
                                                                         db_url, treasury):
    start_nonce = chain.w3.eth.get_transaction_count(treasury.address)
    decision = crash_while_sending_the_swap(chain, keys_dir, db_url, after_broadcast=True)
    swap = ChainIntentStore(make_engine(db_url)).get(f"{decision}:swap")
    # The node took it and anvil mined it; A recorded neither the broadcast nor the receipt.
    assert swap.status == "signed"
    assert chain.w3.eth.get_transaction_receipt(swap.tx_hash)["status"] == 1

    executor = restarted(chain, keys_dir, db_url)
    assert_booked_once_and_reconciled(chain, keys_dir, db_url, decision, executor)
    assert chain.w3.eth.get_transaction_count(treasury.address) == start_nonce + 2  # approve, swap


def test_a_swap_signed_but_never_sent_is_sent_as_signed_and_booked_once(chain, keys_dir, db_url,
                                                                        treasury):
    start_nonce = chain.w3.eth.get_transaction_count(treasury.address)
    decision = crash_while_sending_the_swap(chain, keys_dir, db_url, after_broadcast=False)
    signed = ChainIntentStore(make_engine(db_url)).get(f"{decision}:swap")
    assert signed.status == "signed" and signed.attempts == 0
    assert chain.w3.eth.get_transaction_count(treasury.address, "pending") == start_nonce + 1

    executor = restarted(chain, keys_dir, db_url)
    assert_booked_once_and_reconciled(chain, keys_dir, db_url, decision, executor)
    swap = ChainIntentStore(make_engine(db_url)).get(f"{decision}:swap")
    assert (swap.status, swap.tx_hashes) == ("mined", (signed.tx_hash,))  # the bytes A signed
    mined = chain.w3.eth.get_transaction(signed.tx_hash)
    assert (mined["nonce"], mined["blockNumber"] is not None) == (signed.nonce, True)
    assert chain.w3.eth.get_transaction_count(treasury.address) == start_nonce + 2  # one swap


def test_a_swap_that_reverts_after_the_restart_fails_its_order_and_books_nothing(
        chain, keys_dir, db_url, treasury):
    decision = crash_while_sending_the_swap(chain, keys_dir, db_url, after_broadcast=False)
    increase_time(chain.w3, 600)  # down longer than the swap's deadline (<= 120 s)
    executor = restarted(chain, keys_dir, db_url)
    assert executor.settle(tick=2, bars=bars(2)) == []
    assert executor.failed == [decision]
    _, status, _ = OrderStore(make_engine(db_url)).by_decision(decision)
    assert status == "failed"
    swap = ChainIntentStore(make_engine(db_url)).get(f"{decision}:swap")
    assert chain.w3.eth.get_transaction_receipt(swap.tx_hash)["status"] == 0  # sent as signed
    books = TreasuryAgent(cash_usd=CASH_USD, start=START)
    assert executor.reconcile(books.portfolio()) == []  # the chain moved nothing to book
    assert restarted(chain, keys_dir, db_url).settle(tick=3, bars=bars(3)) == []


def test_a_pool_moved_past_the_tolerance_reverts_the_signed_swap_and_nothing_is_requoted(
        chain, keys_dir, db_url, treasury):
    """The slippage guard: A signed the swap with amountOutMin from its quote; while it was
    down ETH rose 5 % (the policy allows 1 %), so the swap sent as signed reverts, the order
    fails, and no second swap at a new quote is ever signed for the decision."""
    start_nonce = chain.w3.eth.get_transaction_count(treasury.address)
    decision = crash_while_sending_the_swap(chain, keys_dir, db_url, after_broadcast=False)
    chain.align({"ETH": PRICES["ETH"] * 1.05})
    try:
        executor = restarted(chain, keys_dir, db_url)
        assert executor.settle(tick=2, bars=bars(2)) == []
        assert executor.failed == [decision]
        swap = ChainIntentStore(make_engine(db_url)).get(f"{decision}:swap")
        assert chain.w3.eth.get_transaction_receipt(swap.tx_hash)["status"] == 0
        assert len(swap.tx_hashes) == 1  # the bytes A signed, nothing re-signed
        assert executor.settle(tick=3, bars=bars(3)) == []
        assert not executor.submit(order(decision, Side.BUY, tick=3, notional=NOTIONAL_USD))
        assert chain.w3.eth.get_transaction_count(treasury.address) == start_nonce + 2
        books = TreasuryAgent(cash_usd=CASH_USD, start=START)
        assert executor.reconcile(books.portfolio()) == []  # the revert moved nothing
    finally:
        chain.align(PRICES)


class LaggingProvider(HTTPProvider):
    """A node behind a load balancer: once a receipt has been seen, the next ``misses`` reads
    of it land on a backend that has not seen the block yet (null)."""

    def __init__(self, url: str, *, misses: int) -> None:
        super().__init__(url)
        self.misses, self.seen = misses, set()

    def make_request(self, method, params):
        answer = super().make_request(method, params)
        if method == "eth_getTransactionReceipt" and answer.get("result"):
            tx = params[0]
            if tx in self.seen and self.misses > 0:
                self.misses -= 1
                return {**answer, "result": None}
            self.seen.add(tx)
        return answer


@pytest.mark.parametrize("misses", [2, 50])
def test_a_receipt_that_goes_missing_after_mining_never_fails_the_order(chain, keys_dir,
                                                                       db_url, misses):
    """A lagging node: a few misses are waited out and the fill is booked; a receipt that
    stays missing stops the run (ReceiptMissing) with the order still open, never failed."""
    executor = restarted(chain, keys_dir, db_url)
    decision = f"lagging-{misses}"
    assert executor.submit(order(decision, Side.BUY, tick=0, notional=1_000))
    executor.w3.provider = LaggingProvider(chain.anvil.rpc_url, misses=misses)
    if misses <= 2:
        [fill] = executor.settle(tick=1, bars=bars(1))
        assert fill.decision_id == decision
        assert OrderStore(make_engine(db_url)).by_decision(decision)[1] == "filled"
        return
    with pytest.raises(ReceiptMissing, match="the order stays open"):
        executor.settle(tick=1, bars=bars(1))
    assert OrderStore(make_engine(db_url)).by_decision(decision)[1] == "intent"
    assert executor.failed == []


def test_an_order_whose_trade_was_never_signed_is_abandoned_not_executed_late(
        chain, keys_dir, db_url, treasury):
    """A crashed before signing the swap, after its approval mined: B never signs a swap at a
    fresh quote nobody judged; it marks the order failed and trades nothing."""
    a = restarted(chain, keys_dir, db_url)
    decision = "approved-only"
    assert a.submit(order(decision, Side.BUY, tick=0, notional=2_000))
    usdc = Erc20(chain.w3, chain.deployment.tokens[QUOTE_TOKEN])
    a.sender.send(f"{decision}:approve", usdc.approve_exact(
        chain.deployment.router, 2_000 * 10**6, spender_name="router"))
    nonce = chain.w3.eth.get_transaction_count(treasury.address)

    b = restarted(chain, keys_dir, db_url)
    assert b.failed == [decision]
    assert b.settle(tick=5, bars=bars(5)) == []
    assert not b.submit(order(decision, Side.BUY, tick=5, notional=2_000))
    _, status, _ = OrderStore(make_engine(db_url)).by_decision(decision)
    assert status == "failed"
    assert ChainIntentStore(make_engine(db_url)).get(f"{decision}:swap") is None
    assert chain.w3.eth.get_transaction_count(treasury.address) == nonce  # nothing sent


def test_ending_a_run_leaves_a_signed_trade_open_and_cancels_an_unsigned_one(
        chain, keys_dir, db_url):
    signed = crash_while_sending_the_swap(chain, keys_dir, db_url, after_broadcast=False)
    b = restarted(chain, keys_dir, db_url)
    assert b.submit(order("never-settled", Side.BUY, tick=7, notional=500))
    cancelled = b.cancel_pending(reason="the run ended")
    assert [o.decision_id for o in cancelled] == ["never-settled"]
    store = OrderStore(make_engine(db_url))
    assert store.by_decision("never-settled")[1] == "failed"
    assert store.by_decision(signed)[1] == "intent"  # its swap may still mine
    [fill] = restarted(chain, keys_dir, db_url).settle(tick=8, bars=bars(8))
    assert fill.decision_id == signed


def test_a_live_restart_records_a_fill_already_in_the_opening_wallet_without_reporting_it(
        chain, keys_dir, db_url):
    """Live starts from the wallet as read at opening_block: an earlier run's swap mined by
    then is already in those balances, so it is recorded filled but not booked again."""
    decision = crash_while_sending_the_swap(chain, keys_dir, db_url, after_broadcast=True)
    read_at = mined_block(chain)
    b = ChainExecutor(executor_config(chain, keys_dir, opening_block=read_at), db_url=db_url,
                      password=PASSWORD)
    assert b.settle(tick=2, bars=bars(2)) == []
    _, status, stored = OrderStore(make_engine(db_url)).by_decision(decision)
    assert status == "filled" and stored.decision_id == decision
    assert b.resumed == []
