"""Transactions as data (ContractCall) and a simple sender for the devnet's own accounts.

Adapters describe what to send as ``ContractCall`` values and never sign: the chain executor
signs the treasury's transactions, exactly once, from its keystore. ``ServiceSender`` signs and
sends for accounts whose keys exist only in memory for one throwaway chain (the deployer, the
arbitrageur, a test's accounts); it keeps no record and never retries, so it must never be
handed a keystore key.
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import get_abi_input_types
from pydantic import BaseModel, ConfigDict, Field
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from core.chain.anvil import set_balance
from core.chain.compile import Artifact
from core.chain.errors import TransactionReverted
from core.logging import get_logger

log = get_logger(__name__)


class ContractCall(BaseModel):
    """One transaction to send: target, calldata, ether value, and what it does in words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str = Field(description="Checksummed address of the contract called")
    data: str = Field(pattern=r"^0x[0-9a-fA-F]*$", description="ABI-encoded calldata")
    value_wei: int = Field(default=0, ge=0)
    description: str = Field(min_length=1, description="e.g. 'approve 1000000 of USDC to router'")


def call_of(contract: Any, function: str, args: list[Any], description: str) -> ContractCall:
    """A ContractCall for ``contract.function(*args)``."""
    data = contract.encode_abi(function, args=args)
    return ContractCall(to=contract.address, data=data, description=description)


def revert_reason(error: ContractLogicError) -> str:
    """The revert string of a failed call or estimate, without web3's prefix."""
    message = error.message or str(error)
    return message.removeprefix("execution reverted: ").removeprefix("execution reverted") or (
        "reverted without a reason"
    )


class ServiceSender:
    """Signs, sends and waits for transactions of one devnet service account."""

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.chain_id = w3.eth.chain_id

    @classmethod
    def new_funded(cls, w3: Web3, *, ether: int = 1_000) -> ServiceSender:
        """A fresh random account with ``ether`` for gas (anvil_setBalance)."""
        account = Account.create()
        set_balance(w3, account.address, ether * 10**18)
        return cls(w3, account)

    def send(self, call: ContractCall) -> TxReceipt:
        """Send one call and wait for it; raises TransactionReverted with the revert reason."""
        return self._send_raw(
            to=call.to, data=call.data, value=call.value_wei, description=call.description
        )

    def deploy(self, artifact: Artifact, *args: Any, blueprint: bool = False) -> str:
        """Deploy a compiled contract (or its ERC-5202 blueprint); returns the new address."""
        if blueprint:
            data = artifact.blueprint_bytecode
        else:
            constructor = next((e for e in artifact.abi if e["type"] == "constructor"), None)
            types = get_abi_input_types(constructor) if constructor else []
            data = artifact.bytecode + encode(types, list(args)).hex()
        what = f"deploy {artifact.name}{' blueprint' if blueprint else ''}"
        receipt = self._send_raw(to=None, data=data, value=0, description=what)
        return receipt["contractAddress"]

    def _send_raw(self, *, to: str | None, data: str, value: int, description: str) -> TxReceipt:
        tx: dict[str, Any] = {"from": self.address, "data": data, "value": value}
        if to is not None:
            tx["to"] = to
        try:
            gas = self.w3.eth.estimate_gas(tx)
        except ContractLogicError as error:
            raise TransactionReverted(description, revert_reason(error)) from None
        # The nonce is asked for every time: a test may revert the chain to a snapshot.
        nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        tx.pop("from")
        tx.update(
            gas=gas + gas // 5,
            gasPrice=self.w3.eth.gas_price,
            nonce=nonce,
            chainId=self.chain_id,
        )
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        if receipt["status"] != 1:
            raise TransactionReverted(description, f"status 0 in {tx_hash.to_0x_hex()}")
        log.debug("chain.service_tx.mined", description=description, tx=tx_hash.to_0x_hex())
        return receipt
