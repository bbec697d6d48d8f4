"""What can go wrong on a chain, grouped like ``core.errors``: by what the operator must do.

    OperationalError
    ├── AnvilNotFound          anvil is not installed (the message says how to install it)
    ├── AnvilStartError        anvil did not start or did not answer (names the log)
    ├── NodeUnreachable        an RPC request got no answer (names the method, never the URL)
    ├── ReceiptMissing         a transaction seen mined has no receipt now (its order stays open)
    ├── ContractCompileError   a Vyper source does not compile (names the file)
    └── ExecutionError
        └── TransactionReverted  a transaction reverted (names what and the revert reason)

No message built here may contain a key or a password.
"""

from __future__ import annotations

from core.errors import ExecutionError, OperationalError


class AnvilNotFound(OperationalError):
    """No anvil binary on this machine."""


class AnvilStartError(OperationalError):
    """anvil was found but did not start, or stopped answering."""


class NodeUnreachable(OperationalError):
    """A JSON-RPC request got no answer (connection refused, timeout, HTTP error). The message
    names the method and the transport error's class: an RPC URL may carry an API key, and the
    transport's own message quotes it."""


class ReceiptMissing(OperationalError):
    """A transaction recorded as mined has no receipt on the node (a lagging backend, a reorg):
    not an order failure; the run stops and the order stays open to be settled."""


class ContractCompileError(OperationalError):
    """A contract source did not compile; the message names the file."""


class TransactionReverted(ExecutionError):
    """A transaction reverted on chain or in its gas estimate; ``reason`` is the revert string."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what} reverted: {reason}")
