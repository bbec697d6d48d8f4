"""Quorum's exceptions, grouped by what the operator must do.

The governor acts on the class: it retries the temporary kind and stops on the operational kind.
No message built here may contain a secret.

    QuorumError
    ├── TemporaryError            resolves itself; the governor retries the step
    │   └── ReviewerUnavailable   the reviewer could not answer in time (fails closed: escalate)
    └── OperationalError          needs a person; the run stops
        ├── ConfigError           a config or policy file is invalid (names file and key)
        ├── BadDataError          a market-data file is invalid (names file, row and problem)
        ├── StrategyError         a strategy plugin raised; wrapped so it cannot take the tick down
        ├── ApprovalError         an approval was refused (expired, decided, payload changed, unknown)
        ├── ExecutionError        an order could not be executed safely
        └── AuditError            the decision log does not verify
"""

from __future__ import annotations


class QuorumError(Exception):
    """Base of every error Quorum raises on purpose."""


class TemporaryError(QuorumError):
    """Usually resolves itself: the step may be retried."""


class ReviewerUnavailable(TemporaryError):
    """The reviewer did not answer; callers fail closed by escalating."""


class OperationalError(QuorumError):
    """Requires a person; the run stops."""


class ConfigError(OperationalError):
    """A configuration or policy file is invalid."""


class BadDataError(OperationalError):
    """A market-data file is invalid: the message names the file, the row and the problem."""

    def __init__(self, path: str, problem: str, *, row: int | None = None) -> None:
        self.path = str(path)
        self.row = row
        self.problem = problem
        where = f"{self.path} row {row}" if row is not None else self.path
        super().__init__(f"{where}: {problem}")


class StrategyError(OperationalError):
    """A strategy plugin raised; the original exception is chained."""


class ApprovalError(OperationalError):
    """An approval action was refused."""


class ExecutionError(OperationalError):
    """An order could not be executed safely; nothing was sent."""


class AuditError(OperationalError):
    """The decision log does not verify."""
