"""The exactly-once sender on a real anvil: crashes at random points, concurrency, fee bumps.

Every decision here pays a distinct recipient a distinct amount of wei, so "exactly once" is read
off the chain: each recipient holds its amount (not zero, not twice) and the sender's nonce on
chain equals the number of decisions (no gap, no extra transaction).
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from structlog.testing import capture_logs
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound

from core.chain.adapters.erc20 import Erc20
from core.chain.anvil import rpc, set_balance
from core.chain.devnet import Devnet
from core.chain.errors import TransactionReverted
from core.chain.sender import (
    ExactlyOnceSender,
    GasCapExceeded,
    NonceReplaced,
    SenderConfig,
    StuckTransaction,
)
from core.chain.tx import ContractCall, ServiceSender
from state.chain_intents import ChainIntentStore
from state.db import make_engine

GWEI = 10**9
FAST = SenderConfig(gas_cap_wei=500 * GWEI, receipt_timeout_s=5, poll_interval_s=0.01)


class SimulatedCrash(BaseException):
    """The process dies here: nothing in the sender may catch it."""


class CrashingProvider(HTTPProvider):
    """The real HTTP transport, which dies at one RPC call: before sending it, or after."""

    def __init__(self, url: str, *, method: str, occurrence: int, after: bool) -> None:
        super().__init__(url)
        self.crash_method, self.occurrence, self.after = method, occurrence, after
        self.seen = 0
        self.crashed = False

    def make_request(self, method: Any, params: Any) -> Any:
        if method != self.crash_method or self.crashed:
            return super().make_request(method, params)
        self.seen += 1
        if self.seen < self.occurrence:
            return super().make_request(method, params)
        self.crashed = True
        if not self.after:
            raise SimulatedCrash(f"before {method}")
        super().make_request(method, params)
        raise SimulatedCrash(f"after {method}")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(str(tmp_path / "quorum.db"))
    yield engine
    engine.dispose()


@pytest.fixture
def account(chain: Devnet) -> LocalAccount:
    """A fresh account with ether and nonce 0 (the chain is reverted after the test)."""
    account = Account.create()
    set_balance(chain.w3, account.address, 1_000 * 10**18)
    return account


def payment(index: int) -> tuple[str, ContractCall]:
    recipient = Account.create().address
    return recipient, ContractCall(
        to=recipient, data="0x", value_wei=1_000 + index, description=f"pay decision {index}"
    )


def assert_exactly_once(chain: Devnet, account: LocalAccount, engine: Engine,
                        payments: dict[str, tuple[str, ContractCall]]) -> None:
    w3 = chain.w3
    assert w3.eth.get_transaction_count(account.address, "latest") == len(payments)
    assert w3.eth.get_transaction_count(account.address, "pending") == len(payments)
    intents = ChainIntentStore(engine).all_for(chain_id=w3.eth.chain_id, address=account.address)
    assert sorted(i.nonce for i in intents) == list(range(len(payments)))
    assert {i.decision_id for i in intents} == set(payments)
    for intent in intents:
        recipient, call = payments[intent.decision_id]
        assert intent.status == "mined", intent
        assert w3.eth.get_balance(recipient) == call.value_wei
        receipt = w3.eth.get_transaction_receipt(intent.tx_hash)
        assert receipt["status"] == 1 and receipt["from"] == account.address
        assert w3.eth.get_transaction(intent.tx_hash)["nonce"] == intent.nonce


def test_crash_at_random_points_still_sends_each_decision_exactly_once(
    chain: Devnet, account: LocalAccount, engine: Engine
) -> None:
    methods = ["eth_getTransactionCount", "eth_sendRawTransaction",
               "eth_getTransactionReceipt", "eth_call", "eth_getBlockByNumber"]
    rng = random.Random(5)
    payments: dict[str, tuple[str, ContractCall]] = {}
    crashed_unsettled: list[tuple[str, ContractCall]] = []
    crashes = 0
    for index in range(40):
        decision_id = f"decision-{index}"
        payments[decision_id] = payment(index)
        provider = CrashingProvider(
            chain.anvil.rpc_url, method=rng.choice(methods), occurrence=rng.randint(1, 3),
            after=rng.random() < 0.5,
        )
        doomed = ExactlyOnceSender(w3=Web3(provider), signer=account, engine=engine, config=FAST)
        try:
            doomed.send(decision_id, payments[decision_id][1])
        except SimulatedCrash:
            crashes += 1
            crashed_unsettled.append((decision_id, payments[decision_id][1]))
        del doomed  # abandoned mid-flight, like a killed process
        restarted = ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine, config=FAST)
        # Half the time the restart retries at once; otherwise later, after other decisions.
        if crashed_unsettled and rng.random() < 0.5:
            for late_id, late_call in crashed_unsettled:
                restarted.send(late_id, late_call)
            crashed_unsettled.clear()
    final = ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine, config=FAST)
    final.reconcile_all()
    for decision_id, call in crashed_unsettled:  # the executor retries them after restart
        final.send(decision_id, call)
    for decision_id, (_, call) in payments.items():  # and a second retry is a no-op
        assert final.send(decision_id, call)["status"] == 1
    assert crashes >= 15  # the crash points really fired
    assert_exactly_once(chain, account, engine, payments)


def test_crash_between_persist_and_broadcast_rebroadcasts_the_same_raw_transaction(
    chain: Devnet, account: LocalAccount, engine: Engine
) -> None:
    _, call = payments_one = payment(0)
    provider = CrashingProvider(chain.anvil.rpc_url, method="eth_sendRawTransaction",
                                occurrence=1, after=False)
    with pytest.raises(SimulatedCrash):
        ExactlyOnceSender(w3=Web3(provider), signer=account, engine=engine,
                          config=FAST).send("d", call)
    signed = ChainIntentStore(engine).get("d")
    assert signed is not None and signed.status == "signed" and signed.attempts == 0
    assert chain.w3.eth.get_transaction_count(account.address, "pending") == 0

    receipt = ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine,
                                config=FAST).send("d", call)
    assert receipt["transactionHash"].to_0x_hex() == signed.tx_hash  # not signed again
    assert_exactly_once(chain, account, engine, {"d": payments_one})


def test_fifty_concurrent_orders_get_contiguous_nonces_and_all_mine(
    chain: Devnet, account: LocalAccount, engine: Engine
) -> None:
    sender = ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine, config=FAST)
    payments = {f"decision-{i}": payment(i) for i in range(50)}
    errors: list[BaseException] = []
    start = threading.Barrier(50)

    def run(decision_id: str) -> None:
        try:
            start.wait()
            sender.send(decision_id, payments[decision_id][1])
        except Exception as error:  # noqa: BLE001 - reported below, so the test fails on it
            errors.append(error)

    threads = [threading.Thread(target=run, args=(d,)) for d in payments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert_exactly_once(chain, account, engine, payments)


@pytest.fixture
def no_automine(chain: Devnet) -> Iterator[None]:
    rpc(chain.w3, "evm_setAutomine", [False])
    yield
    rpc(chain.w3, "evm_setAutomine", [True])


def test_stuck_transaction_is_replaced_with_same_nonce_and_higher_fee_and_only_one_mines(
    chain: Devnet, account: LocalAccount, engine: Engine, no_automine: None
) -> None:
    recipient, call = payment(0)
    config = SenderConfig(gas_cap_wei=500 * GWEI, priority_fee_wei=GWEI, receipt_timeout_s=0.3,
                          poll_interval_s=0.02, max_replacements=3)
    sender = ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine, config=config)
    with capture_logs() as events, pytest.raises(StuckTransaction):
        sender.send("stuck", call)
    intent = ChainIntentStore(engine).get("stuck")
    assert intent is not None and intent.status == "broadcast" and intent.replacements == 3
    assert len(set(intent.tx_hashes)) == 4
    fees = [e["max_fee_per_gas"] for e in events
            if e["event"] in ("chain.intent.signed", "chain.intent.replacing")]
    assert len(fees) == 4
    assert all(later * 1000 >= earlier * 1125 for earlier, later in pairwise(fees))
    assert fees[-1] <= config.gas_cap_wei
    pending = chain.w3.eth.get_transaction(intent.tx_hashes[-1])  # the node kept the last only
    assert pending["nonce"] == 0 and pending["maxFeePerGas"] == fees[-1]
    assert pending["blockNumber"] is None

    rpc(chain.w3, "evm_mine", [])
    [settled] = sender.reconcile_all()
    assert settled.status == "mined" and settled.tx_hash == intent.tx_hashes[-1]
    mined = [h for h in intent.tx_hashes if _receipt_or_none(chain.w3, h) is not None]
    assert mined == [intent.tx_hashes[-1]]
    assert chain.w3.eth.get_transaction_count(account.address, "latest") == 1
    assert chain.w3.eth.get_balance(recipient) == call.value_wei
    assert sender.send("stuck", call)["transactionHash"].to_0x_hex() == intent.tx_hashes[-1]


def test_gas_cap_refuses_a_replacement_above_it(
    chain: Devnet, account: LocalAccount, engine: Engine, no_automine: None
) -> None:
    recipient, call = payment(0)
    base_fee = chain.w3.eth.get_block("latest")["baseFeePerGas"]
    cap = base_fee + GWEI + GWEI // 20  # base fee + tip fit under it; a 12.5 % bump does not
    config = SenderConfig(gas_cap_wei=cap, priority_fee_wei=GWEI, receipt_timeout_s=0.2,
                          poll_interval_s=0.02)
    sender = ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine, config=config)
    with pytest.raises(GasCapExceeded, match="above the gas cap"):
        sender.send("capped", call)
    intent = ChainIntentStore(engine).get("capped")
    assert intent is not None and intent.replacements == 0 and intent.status == "broadcast"
    assert intent.max_fee_per_gas <= cap
    assert chain.w3.eth.get_transaction(intent.tx_hash)["maxFeePerGas"] <= cap

    rpc(chain.w3, "evm_mine", [])
    assert sender.send("capped", call)["status"] == 1
    assert chain.w3.eth.get_balance(recipient) == call.value_wei


def test_first_fee_above_the_gas_cap_is_refused_before_signing(
    chain: Devnet, account: LocalAccount, engine: Engine
) -> None:
    _, call = payment(0)
    config = SenderConfig(gas_cap_wei=1, priority_fee_wei=GWEI)
    sender = ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine, config=config)
    with pytest.raises(GasCapExceeded, match="nothing was signed"):
        sender.send("too-dear", call)
    assert ChainIntentStore(engine).get("too-dear") is None
    assert chain.w3.eth.get_transaction_count(account.address, "pending") == 0


def test_call_that_would_revert_is_never_signed_or_broadcast(
    chain: Devnet, account: LocalAccount, engine: Engine
) -> None:
    usdc = Erc20(chain.w3, chain.deployment.tokens["USDC"])
    call = usdc.transfer(Account.create().address, 10**12)  # the account holds no USDC
    sender = ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine, config=FAST)
    with pytest.raises(TransactionReverted):
        sender.send("reverts", call)
    assert ChainIntentStore(engine).get("reverts") is None
    assert chain.w3.eth.get_transaction_count(account.address, "pending") == 0


def _receipt_or_none(w3: Web3, tx_hash: str) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:  # never mined
        return None


def test_nonce_taken_by_a_foreign_transaction_marks_the_intent_replaced_not_resent(
    chain: Devnet, account: LocalAccount, engine: Engine
) -> None:
    recipient, call = payment(0)
    provider = CrashingProvider(chain.anvil.rpc_url, method="eth_sendRawTransaction",
                                occurrence=1, after=False)
    with pytest.raises(SimulatedCrash):
        ExactlyOnceSender(w3=Web3(provider), signer=account, engine=engine,
                          config=FAST).send("lost", call)
    # Someone else (a person with the same key) uses nonce 0 before the restart.
    ServiceSender(chain.w3, account).send(payment(1)[1])

    with pytest.raises(NonceReplaced, match="not ours"):
        ExactlyOnceSender(w3=chain.w3, signer=account, engine=engine,
                          config=FAST).send("lost", call)
    intent = ChainIntentStore(engine).get("lost")
    assert intent is not None and intent.status == "replaced" and intent.attempts == 0
    assert chain.w3.eth.get_balance(recipient) == 0
    assert chain.w3.eth.get_transaction_count(account.address, "pending") == 1


def _send_from_process(rpc_url: str, db_path: str, private_key: str,
                       jobs: list[tuple[str, str, int]]) -> None:
    """One executor process: its own engine, web3 and signer, the shared database file."""
    signer = Account.from_key(private_key)
    engine = make_engine(db_path)
    sender = ExactlyOnceSender(w3=Web3(HTTPProvider(rpc_url)), signer=signer, engine=engine,
                               config=FAST)
    for decision_id, recipient, value in jobs:
        sender.send(decision_id, ContractCall(to=recipient, data="0x", value_wei=value,
                                              description=f"pay {decision_id}"))
    engine.dispose()


@pytest.mark.slow
def test_processes_sharing_one_database_get_contiguous_nonces(
    chain: Devnet, account: LocalAccount, tmp_path: Path
) -> None:
    db_path = str(tmp_path / "shared.db")
    engine = make_engine(db_path)
    payments = {f"p{worker}-{i}": payment(worker * 10 + i) for worker in range(3)
                for i in range(8)}
    jobs = [[(d, r, c.value_wei) for d, (r, c) in payments.items() if d.startswith(f"p{w}-")]
            for w in range(3)]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_send_from_process,
                               args=(chain.anvil.rpc_url, db_path, account.key.to_0x_hex(), job))
               for job in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert_exactly_once(chain, account, engine, payments)
    engine.dispose()
