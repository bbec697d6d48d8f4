"""Nonce allocation: one sequence per (chain id, sender address), safe across threads and
processes.

A nonce is chosen and the intent that uses it is written in the same database transaction, so
no two intents ever share a nonce and none is handed out without a committed row behind it. On
SQLite the transaction is ``BEGIN IMMEDIATE`` (the write lock is taken before the read); on
PostgreSQL it first takes a transaction-scoped advisory lock keyed by (chain id, address), so
writers of one sender queue instead of racing; on any backend the unique (chain id, address,
nonce) constraint still turns a race into a retry. The next
nonce is the larger of the chain's pending count and the highest persisted nonce + 1: the chain
knows about transactions sent by hand, the database about those signed but not yet broadcast.
This module never signs and never sends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from core.errors import ExecutionError
from core.logging import get_logger
from state.chain_intents import ChainIntentStore

MAX_RACE_RETRIES = 5

log = get_logger(__name__)


class NonceAllocator:
    """Hands out nonces of one sender on one chain, each inside the transaction that uses it."""

    def __init__(
        self,
        store: ChainIntentStore,
        *,
        chain_id: int,
        address: str,
        chain_pending_nonce: Callable[[], int],
    ) -> None:
        self.store = store
        self.chain_id = chain_id
        self.address = address
        self._chain_pending_nonce = chain_pending_nonce

    @property
    def _lock_key(self) -> int:
        """A signed 64-bit key for PostgreSQL's advisory lock, one per (chain, address)."""
        digest = hashlib.sha256(f"quorum-nonce:{self.chain_id}:{self.address}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    @property
    def engine(self) -> Engine:
        return self.store.engine

    def allocate(self, write: Callable[[Connection, int], None]) -> int:
        """Pick the next nonce and call ``write(conn, nonce)`` in the same transaction; commit.

        ``write`` inserts the intent; whatever it raises rolls the transaction back, so the
        nonce is not used up.
        """
        for attempt in range(1, MAX_RACE_RETRIES + 1):
            try:
                return self._allocate_once(write)
            except IntegrityError:
                # Another process took the same nonce between our read and our insert.
                log.warning(
                    "chain.nonce.race", chain_id=self.chain_id, address=self.address,
                    attempt=attempt,
                )
        raise ExecutionError(
            f"no nonce for {self.address} on chain {self.chain_id}: {MAX_RACE_RETRIES} "
            "concurrent writers took each one first"
        )

    def _allocate_once(self, write: Callable[[Connection, int], None]) -> int:
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # pysqlite begins lazily (DEFERRED) at the first write; take the lock now.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                if conn.dialect.name == "postgresql":  # released at commit or rollback
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": self._lock_key})
                nonce = self._next_nonce(conn)
                write(conn, nonce)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        log.debug("chain.nonce.allocated", chain_id=self.chain_id, address=self.address,
                  nonce=nonce)
        return nonce

    def _next_nonce(self, conn: Connection) -> int:
        highest = self.store.highest_nonce(conn, chain_id=self.chain_id, address=self.address)
        persisted_next = 0 if highest is None else highest + 1
        return max(self._chain_pending_nonce(), persisted_next)
