"""An ERC-20 token: balances, and exact-amount approvals (never unlimited)."""

from __future__ import annotations

from functools import cached_property

from web3 import Web3

from core.chain.adapters.abis import ERC20
from core.chain.tx import ContractCall, call_of

UNLIMITED_FROM = 2**128
"""Any approval this large or larger reads as "unlimited" and is refused: approve what you spend."""


class Erc20:
    """Reads and approvals of one token."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=ERC20)
        self.address = self.contract.address

    @cached_property
    def symbol(self) -> str:
        return self.contract.functions.symbol().call()

    @cached_property
    def decimals(self) -> int:
        return self.contract.functions.decimals().call()

    def balance_of(self, owner: str) -> int:
        return self.contract.functions.balanceOf(Web3.to_checksum_address(owner)).call()

    def allowance(self, owner: str, spender: str) -> int:
        return self.contract.functions.allowance(
            Web3.to_checksum_address(owner), Web3.to_checksum_address(spender)
        ).call()

    def approve_exact(self, spender: str, amount: int, *, spender_name: str) -> ContractCall:
        """Approve ``spender`` for exactly ``amount`` base units; refuses unlimited approvals."""
        if amount <= 0:
            raise ValueError(
                f"approve {self.symbol} to {spender_name}: amount must be > 0, got {amount}"
            )
        if amount >= UNLIMITED_FROM:
            raise ValueError(
                f"approve {self.symbol} to {spender_name}: {amount} is an unlimited approval; "
                "Quorum approves exactly what it spends"
            )
        return call_of(
            self.contract,
            "approve",
            [Web3.to_checksum_address(spender), amount],
            f"approve {amount} of {self.symbol} to {spender_name}",
        )

    def transfer(self, to: str, amount: int) -> ContractCall:
        """Send ``amount`` base units to ``to``."""
        return call_of(
            self.contract,
            "transfer",
            [Web3.to_checksum_address(to), amount],
            f"transfer {amount} of {self.symbol} to {to}",
        )
