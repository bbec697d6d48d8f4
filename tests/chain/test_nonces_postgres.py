"""The nonce allocator on a real PostgreSQL server: the advisory lock is what keeps writers in line.

A throwaway cluster (``postgres_server``) runs for this module; each test gets its own database.
Several processes, each with its own engine, allocate at once after a shared barrier. With the
allocator's ``pg_advisory_xact_lock`` they queue: nonces come out contiguous and the unique
constraint is never even hit. The same transaction without the lock statement (written out below,
since the allocator has no switch to turn its lock off) reads the same highest nonce in two
sessions and lands on the unique constraint, which shows the lock is doing the work.
Without PostgreSQL binaries or the driver these tests fail, saying what to install.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError
from structlog.testing import capture_logs

from core.chain.nonces import NonceAllocator
from state.chain_intents import ChainIntent, ChainIntentStore
from state.db import make_engine
from state.tables import utc_now
from tests.chain.postgres_server import (
    PostgresServer,
    PostgresUnavailable,
    find_bin_dir,
    running_postgres,
)

CHAIN_ID = 31337
ALICE = "0x" + "A1" * 20
BOB = "0x" + "B0" * 20
WORKERS = 4
LOCK_TIMEOUT = "?options=-c%20lock_timeout%3D30000"
"""Added to the URL's query for in-process tests: a lock wait that would hang fails (30 s)."""

pytestmark = pytest.mark.timeout(120)

_start_together: Any = None  # each pool worker's copy of the shared barrier


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        with running_postgres() as server:
            yield server
    except PostgresUnavailable as error:
        pytest.fail(f"these tests need a real PostgreSQL server: {error}")


_databases = itertools.count()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh database with Quorum's tables, so each test starts from no intents at all."""
    url = postgres.create_database(f"nonces_{next(_databases)}")
    make_engine(url).dispose()  # tables created once, before any worker connects
    yield url


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url.replace("?", LOCK_TIMEOUT + "&", 1))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    """Worker processes started once (spawn: no inherited state) and shared by the tests."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    with context.Pool(WORKERS, initializer=_remember_barrier, initargs=(barrier,)) as workers:
        yield workers


def _remember_barrier(barrier: Any) -> None:
    global _start_together
    _start_together = barrier


def intent(decision_id: str, address: str, nonce: int) -> ChainIntent:
    now = utc_now()
    return ChainIntent(
        decision_id=decision_id, chain_id=CHAIN_ID, from_address=address, nonce=nonce,
        call_json="{}", gas_limit=21_000, max_fee_per_gas=1, max_priority_fee_per_gas=1,
        raw_tx="0x00", tx_hash=f"0x{decision_id}", tx_hashes=(f"0x{decision_id}",),
        status="signed", attempts=0, replacements=0, block_number=None, error=None,
        created_at=now, updated_at=now,
    )


def allocator(engine: Engine, address: str) -> NonceAllocator:
    return NonceAllocator(ChainIntentStore(engine), chain_id=CHAIN_ID, address=address,
                          chain_pending_nonce=lambda: 0)


def writer(store: ChainIntentStore, decision_id: str,
           address: str) -> Callable[[Connection, int], None]:
    return lambda conn, nonce: store.insert(conn, intent(decision_id, address, nonce))


def allocate_without_lock(store: ChainIntentStore, address: str,
                          write: Callable[[Connection, int], None]) -> int:
    """``NonceAllocator._allocate_once`` minus ``pg_advisory_xact_lock``: read, insert, commit."""
    with store.engine.connect() as conn:
        try:
            highest = store.highest_nonce(conn, chain_id=CHAIN_ID, address=address)
            nonce = 0 if highest is None else highest + 1
            write(conn, nonce)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    return nonce


def _allocate_batch(url: str, jobs: list[tuple[str, str]], locked: bool) -> dict[str, int]:
    """One worker process: its own engine; waits for the others, then allocates every job.

    Returns how often the unique constraint was hit. Locked, that is the allocator's own
    ``chain.nonce.race`` retries; unlocked, the same retry is done here.
    """
    engine = make_engine(url)
    store = ChainIntentStore(engine)
    collisions = 0
    _start_together.wait(timeout=60)
    with capture_logs() as logs:
        for decision_id, address in jobs:
            write = writer(store, decision_id, address)
            if locked:
                allocator(engine, address).allocate(write)
                continue
            while True:
                try:
                    allocate_without_lock(store, address, write)
                    break
                except IntegrityError:
                    collisions += 1
    engine.dispose()
    races = sum(1 for entry in logs if entry["event"] == "chain.nonce.race")
    return {"collisions": collisions + races}


def run_workers(pool: Pool, url: str, jobs: list[tuple[str, str]], *, locked: bool) -> int:
    """Deal ``jobs`` round-robin to the workers, run them at once; total unique-key collisions."""
    batches = [jobs[worker::WORKERS] for worker in range(WORKERS)]
    results = pool.starmap(_allocate_batch, [(url, batch, locked) for batch in batches])
    return sum(result["collisions"] for result in results)


def nonces_by_decision(engine: Engine, address: str) -> dict[str, int]:
    intents = ChainIntentStore(engine).all_for(chain_id=CHAIN_ID, address=address)
    return {i.decision_id: i.nonce for i in intents}


def test_fifty_allocations_from_several_processes_get_distinct_contiguous_nonces(
    pool: Pool, pg_url: str, engine: Engine
) -> None:
    jobs = [(f"alice-{i}", ALICE) for i in range(50)]

    collisions = run_workers(pool, pg_url, jobs, locked=True)

    nonces = nonces_by_decision(engine, ALICE)
    assert set(nonces) == {decision_id for decision_id, _ in jobs}
    assert sorted(nonces.values()) == list(range(50))
    assert collisions == 0  # writers queued on the lock: none ever read a stale highest nonce


def test_two_addresses_interleaved_across_processes_each_get_their_own_sequence(
    pool: Pool, pg_url: str, engine: Engine
) -> None:
    jobs = [(f"{name}-{i}", address) for i in range(25)
            for name, address in (("alice", ALICE), ("bob", BOB))]

    collisions = run_workers(pool, pg_url, jobs, locked=True)

    for name, address in (("alice", ALICE), ("bob", BOB)):
        nonces = nonces_by_decision(engine, address)
        assert set(nonces) == {f"{name}-{i}" for i in range(25)}
        assert sorted(nonces.values()) == list(range(25))
    assert collisions == 0


def test_without_the_advisory_lock_concurrent_processes_collide_on_the_same_nonce(
    pool: Pool, pg_url: str, engine: Engine
) -> None:
    jobs = [(f"alice-{i}", ALICE) for i in range(50)]

    collisions = run_workers(pool, pg_url, jobs, locked=False)

    assert collisions >= 1  # two sessions read the same highest nonce and chose the same next
    assert sorted(nonces_by_decision(engine, ALICE).values()) == list(range(50))  # by retrying


def test_second_allocator_waits_on_the_advisory_lock_and_takes_the_next_nonce(
    engine: Engine,
) -> None:
    store = ChainIntentStore(engine)
    second: dict[str, Any] = {}

    def allocate_second() -> None:
        try:
            second["nonce"] = allocator(engine, ALICE).allocate(writer(store, "second", ALICE))
        except BaseException as error:  # noqa: BLE001 - asserted below
            second["error"] = error

    def write_first(conn: Connection, nonce: int) -> None:
        thread = threading.Thread(target=allocate_second)
        thread.start()
        wait_until_an_advisory_lock_is_awaited(engine, thread)
        second["thread"] = thread
        store.insert(conn, intent("first", ALICE, nonce))

    with capture_logs() as logs:
        first = allocator(engine, ALICE).allocate(write_first)
        second["thread"].join(timeout=60)

    assert "error" not in second, second.get("error")
    assert (first, second["nonce"]) == (0, 1)
    assert [entry for entry in logs if entry["event"] == "chain.nonce.race"] == []


def test_without_the_lock_a_second_session_reads_the_same_highest_nonce(
    engine: Engine,
) -> None:
    """What the lock prevents: the read-then-insert window, here opened on purpose."""
    store = ChainIntentStore(engine)
    second: list[int] = []

    def write_first(conn: Connection, nonce: int) -> None:
        second.append(allocate_without_lock(store, ALICE, writer(store, "second", ALICE)))
        store.insert(conn, intent("first", ALICE, nonce))

    with pytest.raises(IntegrityError, match="uq_chain_intents_nonce"):
        allocate_without_lock(store, ALICE, write_first)
    assert second == [0]
    assert nonces_by_decision(engine, ALICE) == {"second": 0}


def test_an_allocation_for_another_address_is_not_blocked_by_a_held_lock(
    engine: Engine,
) -> None:
    store = ChainIntentStore(engine)
    inner: list[int] = []

    def write_alice(conn: Connection, nonce: int) -> None:
        # Alice's lock is held until this transaction ends; Bob's allocation must not wait for
        # it (if it did, lock_timeout would turn the hang into an error).
        inner.append(allocator(engine, BOB).allocate(writer(store, "bob-0", BOB)))
        store.insert(conn, intent("alice-0", ALICE, nonce))

    assert allocator(engine, ALICE).allocate(write_alice) == 0
    assert inner == [0]
    assert nonces_by_decision(engine, ALICE) == {"alice-0": 0}
    assert nonces_by_decision(engine, BOB) == {"bob-0": 0}


def wait_until_an_advisory_lock_is_awaited(engine: Engine, waiter: threading.Thread) -> None:
    """Block until some session waits for an advisory lock (seen in pg_locks).

    Fails at once if ``waiter`` finishes first: it got through while the lock was held.
    """
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    while waiter.is_alive():
        with engine.connect() as conn:
            if conn.execute(waiting).scalar():
                return
        time.sleep(0.005)
    raise AssertionError("the second allocator finished without waiting for the advisory lock")


def test_missing_binaries_fail_with_how_to_install_them(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match="apt-get install postgresql"):
        find_bin_dir(search_path=str(tmp_path), debian_glob=str(tmp_path / "*" / "bin"))

