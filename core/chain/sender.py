"""The exactly-once chain sender: one decision, one signed transaction, whatever crashes.

For a new decision: simulate with eth_call (a revert fails here, nothing is signed or sent),
price EIP-1559 fees under the gas cap, take the next nonce and sign inside one database
transaction and commit the intent, and only then broadcast and wait for the receipt. For a
decision that already has an intent nothing is ever signed from scratch again: the intent is
reconciled with the chain (a receipt of any hash sent settles it; a nonce used by some other
transaction marks it replaced; otherwise the same raw transaction is rebroadcast). A transaction
with no receipt in time is re-signed with the same nonce and fees raised by at least 12.5%, at
most ``max_replacements`` times over its whole life, never above the gas cap.

What this module must never do: sign a second transaction with a new nonce for a decision that
has an intent, broadcast anything not committed first, or put a key into a log or a message.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from eth_account.datastructures import SignedTransaction
from pydantic import Field
from sqlalchemy import Connection, Engine
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import TxReceipt

from core.chain.errors import ReceiptMissing, TransactionReverted
from core.chain.nonces import NonceAllocator
from core.chain.tx import ContractCall, revert_reason
from core.config_model import ConfigModel
from core.errors import ExecutionError, TemporaryError
from core.logging import get_logger
from state.chain_intents import ChainIntent, ChainIntentStore
from state.tables import utc_now

MIN_FEE_BUMP_BPS = 1250
RECEIPT_READS = 5
"""How often a mined transaction's receipt is asked for before the node counts as lost."""
"""12.5 %: the smallest fee bump nodes accept for a same-nonce replacement (geth wants 10 %)."""
_BENIGN_BROADCAST_ERRORS = ("already known", "already imported", "nonce too low")

log = get_logger(__name__)


class GasCapExceeded(ExecutionError):
    """The fee needed is above the configured gas cap; nothing above the cap is ever signed."""


class StuckTransaction(TemporaryError):
    """No receipt after every replacement allowed; the intent stays open for reconciliation."""


class NonceReplaced(ExecutionError):
    """The intent's nonce was used by a transaction that is not one of ours; it never mined."""


class TransactionSigner(Protocol):
    """What the sender needs from a key: ``core.chain.keys.KeySigner`` or an eth-account one."""

    address: str

    def sign_transaction(self, transaction: dict[str, Any]) -> SignedTransaction: ...


class SenderConfig(ConfigModel):
    """How the chain sender prices, waits for and replaces transactions."""

    gas_cap_wei: int = Field(gt=0, description="Highest maxFeePerGas ever signed, in wei")
    priority_fee_wei: int | None = Field(
        default=None, ge=0, description="Tip per gas in wei; None asks the node"
    )
    receipt_timeout_s: float = Field(
        default=120.0, gt=0, description="Wait this long for a receipt before a fee bump"
    )
    poll_interval_s: float = Field(default=0.2, gt=0, description="Between receipt checks")
    max_replacements: int = Field(
        default=3, ge=0, le=3, description="Fee bumps allowed over an intent's whole life"
    )
    fee_bump_bps: int = Field(
        default=MIN_FEE_BUMP_BPS, ge=MIN_FEE_BUMP_BPS, le=10_000,
        description="Raise of both fees per replacement, in basis points (1250 = 12.5 %)",
    )
    gas_margin_bps: int = Field(
        default=2000, ge=0, description="Added to the gas estimate, in basis points"
    )


class _AlreadyRecorded(Exception):
    """Another writer recorded this decision's intent first (inside the nonce transaction)."""


def bumped(fee_wei: int, bps: int) -> int:
    """``fee_wei`` raised by ``bps`` basis points, rounded up, and by at least one wei."""
    return max(fee_wei + 1, -(-fee_wei * (10_000 + bps) // 10_000))


class ExactlyOnceSender:
    """Sends each decision's transaction exactly once from one address on one chain."""

    def __init__(
        self, *, w3: Web3, signer: TransactionSigner, engine: Engine, config: SenderConfig
    ) -> None:
        self.w3 = w3
        self.signer = signer
        self.address = Web3.to_checksum_address(signer.address)
        self.config = config
        self.chain_id = w3.eth.chain_id
        self.store = ChainIntentStore(engine)
        self.nonces = NonceAllocator(
            self.store,
            chain_id=self.chain_id,
            address=self.address,
            chain_pending_nonce=lambda: w3.eth.get_transaction_count(self.address, "pending"),
        )

    def send(self, decision_id: str, call: ContractCall) -> TxReceipt:
        """The receipt of the decision's one transaction; signs only if it has none yet.

        Raises TransactionReverted (simulation or on chain), NonceReplaced, GasCapExceeded or
        StuckTransaction; the last two leave the intent open for ``reconcile_all``.
        """
        intent = self.store.get(decision_id)
        if intent is None:
            intent = self._sign_new(decision_id, call)
        elif _call_json(call) != intent.call_json:
            raise ExecutionError(
                f"decision {decision_id} was already signed for another call "
                f"(nonce {intent.nonce}); it is never signed again"
            )
        return self._outcome(self._drive(intent))

    def reconcile_all(self) -> list[ChainIntent]:
        """Settle or rebroadcast every open intent of this sender (after a restart)."""
        results = []
        for intent in self.store.open_intents(chain_id=self.chain_id, address=self.address):
            try:
                results.append(self._drive(intent))
            except (StuckTransaction, GasCapExceeded) as error:
                log.warning("chain.intent.still_open", decision_id=intent.decision_id,
                            nonce=intent.nonce, reason=str(error))
                results.append(self.store.get(intent.decision_id) or intent)
        return results

    # -- a new decision -------------------------------------------------------------------

    def _sign_new(self, decision_id: str, call: ContractCall) -> ChainIntent:
        gas_limit = self._simulate(call)
        max_fee, tip = self._fees()

        def write(conn: Connection, nonce: int) -> None:
            if self.store.exists(conn, decision_id):
                raise _AlreadyRecorded
            signed = self._sign(call, nonce=nonce, gas_limit=gas_limit, max_fee=max_fee, tip=tip)
            now = utc_now()
            tx_hash = signed.hash.to_0x_hex()
            self.store.insert(conn, ChainIntent(
                decision_id=decision_id, chain_id=self.chain_id, from_address=self.address,
                nonce=nonce, call_json=_call_json(call), gas_limit=gas_limit,
                max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip,
                raw_tx=signed.raw_transaction.to_0x_hex(), tx_hash=tx_hash,
                tx_hashes=(tx_hash,), status="signed", attempts=0, replacements=0,
                block_number=None, error=None, created_at=now, updated_at=now,
            ))

        try:
            nonce = self.nonces.allocate(write)
            log.info("chain.intent.signed", decision_id=decision_id, nonce=nonce,
                     max_fee_per_gas=max_fee, description=call.description)
        except _AlreadyRecorded:
            log.info("chain.intent.exists", decision_id=decision_id)
        intent = self.store.get(decision_id)
        assert intent is not None  # committed by us or by the writer that beat us
        return intent

    def _simulate(self, call: ContractCall) -> int:
        """eth_call then estimate gas; a revert raises before anything is signed."""
        tx = {"from": self.address, "to": call.to, "data": call.data, "value": call.value_wei}
        try:
            self.w3.eth.call(tx)
            gas = self.w3.eth.estimate_gas(tx)
        except ContractLogicError as error:
            log.warning("chain.intent.simulation_reverted", description=call.description,
                        reason=revert_reason(error))
            raise TransactionReverted(call.description, revert_reason(error)) from None
        return gas + gas * self.config.gas_margin_bps // 10_000

    def _fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas): twice the base fee plus the tip, capped."""
        base_fee = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tip = self.config.priority_fee_wei
        if tip is None:
            tip = self.w3.eth.max_priority_fee
        cap = self.config.gas_cap_wei
        if base_fee + tip > cap:
            raise GasCapExceeded(
                f"base fee {base_fee} + tip {tip} wei per gas is above the gas cap {cap}; "
                "nothing was signed"
            )
        return min(2 * base_fee + tip, cap), tip

    def _sign(self, call: ContractCall, *, nonce: int, gas_limit: int, max_fee: int,
              tip: int) -> SignedTransaction:
        return self.signer.sign_transaction({
            "type": 2, "chainId": self.chain_id, "nonce": nonce,
            "to": Web3.to_checksum_address(call.to), "data": call.data, "value": call.value_wei,
            "gas": gas_limit, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip,
        })

    # -- an intent on its way -------------------------------------------------------------

    def _drive(self, intent: ChainIntent) -> ChainIntent:
        """Settle, or (re)broadcast, wait and bump fees until the intent settles."""
        if not intent.is_open:
            return intent
        settled = self._settle(intent)
        if settled is not None:
            return settled
        self._unblock(intent)
        intent = self._broadcast(intent)
        while True:
            settled = self._wait(intent)
            if settled is not None:
                return settled
            if intent.replacements >= self.config.max_replacements:
                raise StuckTransaction(
                    f"decision {intent.decision_id}: nonce {intent.nonce} has no receipt after "
                    f"{intent.replacements} fee bumps; it stays open for reconciliation"
                )
            intent = self._broadcast(self._replace(intent))

    def _settle(self, intent: ChainIntent) -> ChainIntent | None:
        """Record what the chain did with the intent's nonce; None if still pending."""
        # The count first: a transaction mined after this read still has its receipt below.
        mined_nonce = self.w3.eth.get_transaction_count(self.address, "latest")
        for tx_hash in reversed(intent.tx_hashes):
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                continue
            if receipt is None or receipt.get("blockNumber") is None:
                continue
            ok = receipt["status"] == 1
            log.info("chain.intent.mined", decision_id=intent.decision_id, nonce=intent.nonce,
                     tx=tx_hash, ok=ok, replacements=intent.replacements)
            return self.store.record_outcome(
                intent.decision_id, status="mined" if ok else "failed", tx_hash=tx_hash,
                block_number=receipt["blockNumber"],
                error=None if ok else f"reverted on chain in {tx_hash}",
            )
        if mined_nonce > intent.nonce:
            log.warning("chain.intent.replaced", decision_id=intent.decision_id,
                        nonce=intent.nonce)
            return self.store.record_outcome(
                intent.decision_id, status="replaced",
                error=f"nonce {intent.nonce} was used by a transaction that is not ours",
            )
        return None

    def _unblock(self, intent: ChainIntent) -> None:
        """Rebroadcast lower nonces signed but never sent (their sender may have died).

        Without them the node holds this nonce back forever. The bytes are the committed ones,
        so a live sender racing us only gets "already known".
        """
        for lower in self.store.open_intents(chain_id=self.chain_id, address=self.address):
            if lower.nonce >= intent.nonce:
                break
            if lower.status == "signed":
                log.info("chain.intent.unblocking", decision_id=lower.decision_id,
                         nonce=lower.nonce, for_nonce=intent.nonce)
                self._send_raw(lower)

    def _send_raw(self, intent: ChainIntent) -> None:
        try:
            self.w3.eth.send_raw_transaction(intent.raw_tx)
        except Web3RPCError as error:
            message = str(error.message or error)
            if not any(known in message.lower() for known in _BENIGN_BROADCAST_ERRORS):
                raise ExecutionError(
                    f"decision {intent.decision_id}: the node refused nonce {intent.nonce} "
                    f"({message}); the intent stays open"
                ) from None
            log.info("chain.intent.already_sent", decision_id=intent.decision_id, reason=message)

    def _broadcast(self, intent: ChainIntent) -> ChainIntent:
        """Send the intent's latest raw transaction (the same bytes every time)."""
        self._send_raw(intent)
        log.info("chain.intent.broadcast", decision_id=intent.decision_id, nonce=intent.nonce,
                 tx=intent.tx_hash, attempt=intent.attempts + 1)
        return self.store.record_broadcast(intent.decision_id)

    def _wait(self, intent: ChainIntent) -> ChainIntent | None:
        deadline = time.monotonic() + self.config.receipt_timeout_s
        while True:
            settled = self._settle(intent)
            if settled is not None or time.monotonic() >= deadline:
                return settled
            time.sleep(self.config.poll_interval_s)

    def _replace(self, intent: ChainIntent) -> ChainIntent:
        """Re-sign the same call and nonce with both fees bumped; committed before broadcast."""
        bps = self.config.fee_bump_bps
        max_fee = bumped(intent.max_fee_per_gas, bps)
        tip = bumped(intent.max_priority_fee_per_gas, bps)
        if max_fee > self.config.gas_cap_wei:
            raise GasCapExceeded(
                f"decision {intent.decision_id}: replacing nonce {intent.nonce} needs "
                f"maxFeePerGas {max_fee} wei, above the gas cap {self.config.gas_cap_wei}; "
                "the pending transaction stays as it is"
            )
        call = ContractCall.model_validate_json(intent.call_json)
        signed = self._sign(call, nonce=intent.nonce, gas_limit=intent.gas_limit,
                            max_fee=max_fee, tip=min(tip, max_fee))
        log.warning("chain.intent.replacing", decision_id=intent.decision_id,
                    nonce=intent.nonce, max_fee_per_gas=max_fee,
                    replacement=intent.replacements + 1)
        return self.store.record_replacement(
            intent.decision_id, raw_tx=signed.raw_transaction.to_0x_hex(),
            tx_hash=signed.hash.to_0x_hex(), max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=min(tip, max_fee),
        )

    def _outcome(self, intent: ChainIntent) -> TxReceipt:
        call = ContractCall.model_validate_json(intent.call_json)
        if intent.status == "replaced":
            raise NonceReplaced(f"decision {intent.decision_id}: {intent.error}")
        if intent.status == "failed":
            raise TransactionReverted(call.description, intent.error or "status 0")
        for attempt in range(RECEIPT_READS):
            try:
                return self.w3.eth.get_transaction_receipt(intent.tx_hash)
            except TransactionNotFound:  # a lagging node behind a load balancer, or a reorg
                if attempt + 1 < RECEIPT_READS:
                    time.sleep(self.config.poll_interval_s)
        # Never guess, and never call it failed: it was seen mined. The run stops with the order
        # and its transaction still open, for a person (or a restarted executor) to settle.
        raise ReceiptMissing(
            f"decision {intent.decision_id}: recorded as mined in block {intent.block_number}, "
            f"but the node has no receipt for {intent.tx_hash}; the order stays open"
        )


def _call_json(call: ContractCall) -> str:
    return json.dumps(call.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
