"""The approval queue on a real SQLite file: expiry, quorum, tampering, and one decision only."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import timedelta

import pytest

from core.canonical import canonical_bytes, sha256_hex
from core.errors import ApprovalError
from core.models import ApprovalStatus, Tier
from state.approvals import ApprovalQueue
from state.db import make_engine
from tests.state.support import START, FakeClock, make_order


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(engine, clock) -> ApprovalQueue:
    return ApprovalQueue(engine, clock=clock)


def test_request_is_persisted_with_hash_nonce_and_expiry(queue):
    order = make_order()
    request = queue.request(order, tier=Tier.HUMAN, expiry_s=600)
    assert re.fullmatch(r"a-[0-9a-f]{12}", request.request_id)
    assert re.fullmatch(r"[0-9a-f]{16}", request.nonce)
    assert request.payload_hash == sha256_hex(order)
    assert request.order == order and request.decision_id == order.decision_id
    assert request.status is ApprovalStatus.PENDING and request.approvals == ()
    assert request.created_at == START and request.created_at.tzinfo is not None
    assert request.expires_at == START + timedelta(seconds=600)
    assert queue.get(request.request_id) == request


def test_expired_approval_is_rejected(queue, clock):
    first = queue.request(make_order(1), tier=Tier.HUMAN, expiry_s=60)
    second = queue.request(make_order(2), tier=Tier.HUMAN, expiry_s=120)
    third = queue.request(make_order(3), tier=Tier.HUMAN, expiry_s=3600)

    clock.advance(61)
    with pytest.raises(ApprovalError, match=f"request {first.request_id} expired"):
        queue.approve(first.request_id, approver="alice")
    assert queue.get(first.request_id).status is ApprovalStatus.EXPIRED
    assert queue.get(first.request_id).approvals == ()

    clock.advance(60)
    expired = queue.expire_due()
    assert [r.request_id for r in expired] == [second.request_id]
    assert expired[0].status is ApprovalStatus.EXPIRED
    assert expired[0].decided_at == clock.now
    assert queue.get(third.request_id).status is ApprovalStatus.PENDING
    assert queue.expire_due() == []


def test_quorum_needs_distinct_approvers(queue, clock):
    request = queue.request(make_order(), tier=Tier.QUORUM, required_approvals=2)
    after_alice = queue.approve(request.request_id, approver="alice")
    assert after_alice.status is ApprovalStatus.PENDING
    assert after_alice.approvals == ("alice",)

    with pytest.raises(ApprovalError, match="alice has already approved"):
        queue.approve(request.request_id, approver="alice")

    clock.advance(10)
    done = queue.approve(request.request_id, approver="bob")
    assert done.status is ApprovalStatus.APPROVED
    assert done.approvals == ("alice", "bob")
    assert (done.decided_by, done.decided_at) == ("bob", clock.now)


def test_decided_request_cannot_be_redecided(queue):
    approved = queue.request(make_order(1), tier=Tier.HUMAN)
    queue.approve(approved.request_id, approver="alice")
    with pytest.raises(ApprovalError, match="already approved"):
        queue.reject(approved.request_id, approver="bob", reason="changed my mind")
    with pytest.raises(ApprovalError, match="already approved"):
        queue.approve(approved.request_id, approver="bob")

    rejected = queue.request(make_order(2), tier=Tier.HUMAN)
    result = queue.reject(rejected.request_id, approver="bob", reason="too big")
    assert (result.status, result.reason, result.decided_by) == (
        ApprovalStatus.REJECTED, "too big", "bob")
    with pytest.raises(ApprovalError, match="already rejected"):
        queue.approve(rejected.request_id, approver="alice")
    assert queue.get(approved.request_id).status is ApprovalStatus.APPROVED


def test_tampered_order_json_is_refused(queue, db_path):
    request = queue.request(make_order(notional_usd=1000.0), tier=Tier.HUMAN)
    bigger = canonical_bytes(make_order(notional_usd=1_000_000.0)).decode()
    with sqlite3.connect(db_path) as con:
        con.execute("UPDATE approval_requests SET order_json = ? WHERE request_id = ?",
                    (bigger, request.request_id))
    with pytest.raises(ApprovalError, match="no longer matches its payload hash"):
        queue.approve(request.request_id, approver="alice")
    assert queue.get(request.request_id).status is ApprovalStatus.PENDING


def test_approval_of_a_different_payload_than_reviewed_is_refused(queue):
    request = queue.request(make_order(), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError, match="is not the .* that was reviewed"):
        queue.approve(request.request_id, approver="alice", expected_payload_hash="0" * 64)
    approved = queue.approve(request.request_id, approver="alice",
                             expected_payload_hash=request.payload_hash)
    assert approved.status is ApprovalStatus.APPROVED


def test_queue_survives_reopening_the_engine(engine, db_path, clock):
    request = ApprovalQueue(engine, clock=clock).request(
        make_order(), tier=Tier.QUORUM, required_approvals=2)
    ApprovalQueue(engine, clock=clock).approve(request.request_id, approver="alice")
    engine.dispose()

    reopened = make_engine(f"sqlite:///{db_path}")
    queue = ApprovalQueue(reopened, clock=clock)
    pending = queue.list(ApprovalStatus.PENDING)
    assert [r.request_id for r in pending] == [request.request_id]
    assert pending[0].approvals == ("alice",) and pending[0].expires_at == request.expires_at
    assert queue.approve(request.request_id, approver="bob").status is ApprovalStatus.APPROVED
    reopened.dispose()


def test_list_is_newest_first_and_filters_by_status(queue, clock):
    ids = []
    for n in range(3):
        ids.append(queue.request(make_order(n), tier=Tier.HUMAN).request_id)
        clock.advance(1)
    queue.reject(ids[1], approver="bob")
    assert [r.request_id for r in queue.list()] == ids[::-1]
    assert [r.request_id for r in queue.list(ApprovalStatus.PENDING)] == [ids[2], ids[0]]
    assert [r.request_id for r in queue.list(ApprovalStatus.REJECTED)] == [ids[1]]
    assert set(queue.get_many([ids[0], ids[2], "a-unknown"])) == {ids[0], ids[2]}


def test_unknown_request_is_named(queue):
    with pytest.raises(ApprovalError, match="no approval request 'a-000000000000'"):
        queue.approve("a-000000000000", approver="alice")


def test_one_request_per_decision(queue):
    queue.request(make_order(1), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError, match="decision d-1 already has an approval request"):
        queue.request(make_order(1), tier=Tier.HUMAN)


def test_a_denied_order_cannot_be_queued(queue):
    with pytest.raises(ApprovalError, match="denied order"):
        queue.request(make_order(), tier=Tier.DENY)


def test_two_processes_cannot_both_decide_one_request(engine, db_path, clock):
    """The CLI approving while the system rejects: exactly one of them wins, every time."""
    other = make_engine(f"sqlite:///{db_path}")
    cli, system = ApprovalQueue(engine, clock=clock), ApprovalQueue(other, clock=clock)
    for n in range(10):
        request_id = cli.request(make_order(n), tier=Tier.HUMAN).request_id
        barrier, outcomes = threading.Barrier(2), []

        def decide(action) -> None:
            barrier.wait()
            try:
                outcomes.append(action().status)
            except ApprovalError:
                outcomes.append("refused")

        actions = (
            lambda: cli.approve(request_id, approver="alice"),
            lambda: system.reject(request_id, approver="governor"),
        )
        threads = [threading.Thread(target=decide, args=(action,)) for action in actions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes.count("refused") == 1
        winner = next(o for o in outcomes if o != "refused")
        assert cli.get(request_id).status is winner
    other.dispose()
