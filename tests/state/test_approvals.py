"""The approval queue on a real SQLite file: expiry, quorum, tampering, and one decision only."""

from __future__ import annotations

import getpass
import re
import sqlite3
import threading
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from core.canonical import canonical_bytes, sha256_hex
from core.errors import ApprovalError
from core.models import ApprovalStatus, Tier
from state.approvals import ApprovalQueue
from state.approvers import Approver, Channel
from state.db import make_engine
from tests.state.support import ALICE, APPROVERS, BOB, START, FakeClock, make_order


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(engine, clock) -> ApprovalQueue:
    return ApprovalQueue(engine, approvers=APPROVERS, clock=clock)


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
        queue.approve(first.request_id, approver=ALICE)
    assert queue.get(first.request_id).status is ApprovalStatus.EXPIRED
    assert queue.get(first.request_id).approvals == ()

    clock.advance(60)
    expired = queue.expire_due()
    assert [r.request_id for r in expired] == [second.request_id]
    assert expired[0].status is ApprovalStatus.EXPIRED
    assert (expired[0].decided_at, expired[0].decided_by) == (clock.now, "quorum:expiry")
    assert queue.get(third.request_id).status is ApprovalStatus.PENDING
    assert queue.expire_due() == []


def test_quorum_needs_distinct_approvers(queue, clock):
    request = queue.request(make_order(), tier=Tier.QUORUM, required_approvals=2)
    after_alice = queue.approve(request.request_id, approver=ALICE)
    assert after_alice.status is ApprovalStatus.PENDING
    assert after_alice.approvals == ("alice",)

    with pytest.raises(ApprovalError, match="alice has already approved"):
        queue.approve(request.request_id, approver=ALICE)

    clock.advance(10)
    done = queue.approve(request.request_id, approver=BOB)
    assert done.status is ApprovalStatus.APPROVED
    assert done.approvals == ("alice", "bob")
    assert (done.decided_by, done.decided_at) == ("bob", clock.now)


def test_decided_request_cannot_be_redecided(queue):
    approved = queue.request(make_order(1), tier=Tier.HUMAN)
    queue.approve(approved.request_id, approver=ALICE)
    with pytest.raises(ApprovalError, match="already approved"):
        queue.reject(approved.request_id, approver=BOB, reason="changed my mind")
    with pytest.raises(ApprovalError, match="already approved"):
        queue.approve(approved.request_id, approver=BOB)

    rejected = queue.request(make_order(2), tier=Tier.HUMAN)
    result = queue.reject(rejected.request_id, approver=BOB, reason="too big")
    assert (result.status, result.reason, result.decided_by) == (
        ApprovalStatus.REJECTED, "too big", "bob")
    with pytest.raises(ApprovalError, match="already rejected"):
        queue.approve(rejected.request_id, approver=ALICE)
    assert queue.get(approved.request_id).status is ApprovalStatus.APPROVED


def test_tampered_order_json_is_refused(queue, db_path):
    request = queue.request(make_order(notional_usd=1000.0), tier=Tier.HUMAN)
    bigger = canonical_bytes(make_order(notional_usd=1_000_000.0)).decode()
    with sqlite3.connect(db_path) as con:
        con.execute("UPDATE approval_requests SET order_json = ? WHERE request_id = ?",
                    (bigger, request.request_id))
    with pytest.raises(ApprovalError, match="no longer matches its payload hash"):
        queue.approve(request.request_id, approver=ALICE)
    assert queue.get(request.request_id).status is ApprovalStatus.PENDING


def test_approval_of_a_different_payload_than_reviewed_is_refused(queue):
    request = queue.request(make_order(), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError, match="is not the .* that was reviewed"):
        queue.approve(request.request_id, approver=ALICE, expected_payload_hash="0" * 64)
    approved = queue.approve(request.request_id, approver=ALICE,
                             expected_payload_hash=request.payload_hash)
    assert approved.status is ApprovalStatus.APPROVED


def test_queue_survives_reopening_the_engine(engine, db_path, clock):
    request = ApprovalQueue(engine, clock=clock).request(
        make_order(), tier=Tier.QUORUM, required_approvals=2)
    ApprovalQueue(engine, approvers=APPROVERS, clock=clock).approve(
        request.request_id, approver=ALICE)
    engine.dispose()

    reopened = make_engine(f"sqlite:///{db_path}")
    queue = ApprovalQueue(reopened, approvers=APPROVERS, clock=clock)
    pending = queue.list(ApprovalStatus.PENDING)
    assert [r.request_id for r in pending] == [request.request_id]
    assert pending[0].approvals == ("alice",) and pending[0].expires_at == request.expires_at
    assert queue.approve(request.request_id, approver=BOB).status is ApprovalStatus.APPROVED
    reopened.dispose()


def test_list_is_newest_first_and_filters_by_status(queue, clock):
    ids = []
    for n in range(3):
        ids.append(queue.request(make_order(n), tier=Tier.HUMAN).request_id)
        clock.advance(1)
    queue.reject(ids[1], approver=BOB)
    assert [r.request_id for r in queue.list()] == ids[::-1]
    assert [r.request_id for r in queue.list(ApprovalStatus.PENDING)] == [ids[2], ids[0]]
    assert [r.request_id for r in queue.list(ApprovalStatus.REJECTED)] == [ids[1]]
    assert set(queue.get_many([ids[0], ids[2], "a-unknown"])) == {ids[0], ids[2]}


def test_unknown_request_is_named(queue):
    with pytest.raises(ApprovalError, match="no approval request 'a-000000000000'"):
        queue.approve("a-000000000000", approver=ALICE)


def test_one_request_per_decision(queue):
    queue.request(make_order(1), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError, match="decision d-1 already has an approval request"):
        queue.request(make_order(1), tier=Tier.HUMAN)


def test_a_denied_order_cannot_be_queued(queue):
    with pytest.raises(ApprovalError, match="denied order"):
        queue.request(make_order(), tier=Tier.DENY)


def test_two_processes_cannot_both_decide_one_request(engine, db_path, clock):
    """The CLI approving while the system cancels: exactly one of them wins, every time."""
    other = make_engine(f"sqlite:///{db_path}")
    cli = ApprovalQueue(engine, approvers=APPROVERS, clock=clock)
    system = ApprovalQueue(other, clock=clock)
    for n in range(10):
        request_id = cli.request(make_order(n), tier=Tier.HUMAN).request_id
        barrier, outcomes = threading.Barrier(2), []

        def decide(action, barrier=barrier, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                outcomes.append(action().status)
            except ApprovalError:
                outcomes.append("refused")

        actions = (
            lambda rid=request_id: cli.approve(rid, approver=ALICE),
            lambda rid=request_id: system.cancel(rid, by="quorum:run-ended", reason="run ended"),
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


# Who may decide: the [approvals] allowlists, checked inside the queue for every channel.

MALLORY = Approver(Channel.CLI, "mallory")


def test_people_on_a_channels_allowlist_decide_from_that_channel(queue):
    by_cli, by_tui, by_telegram, rejected = (
        queue.request(make_order(n), tier=Tier.HUMAN) for n in range(4))
    assert queue.approve(by_cli.request_id, approver=BOB).approvals == ("bob",)
    from_tui = queue.approve(by_tui.request_id, approver=Approver(Channel.TUI, "alice"))
    assert (from_tui.status, from_tui.decided_by) == (ApprovalStatus.APPROVED, "alice")
    from_telegram = queue.approve(by_telegram.request_id,
                                  approver=Approver(Channel.TELEGRAM, "555000111"))
    assert (from_telegram.status, from_telegram.approvals) == (ApprovalStatus.APPROVED, ("dave",))
    result = queue.reject(rejected.request_id, approver=Approver(Channel.TELEGRAM, "123456789"))
    assert (result.status, result.decided_by) == (ApprovalStatus.REJECTED, "alice")
    assert queue.refusals() == []


def test_a_stranger_is_refused_recorded_and_logged_and_the_request_stays_pending(
    queue, clock, db_path
):
    request = queue.request(make_order(), tier=Tier.HUMAN)
    clock.advance(5)
    with capture_logs() as logs, pytest.raises(ApprovalError) as refused:
        queue.approve(request.request_id, approver=MALLORY)
    assert str(refused.value) == (
        f"request {request.request_id}: 'mallory' via cli may not approve "
        "(not on the [approvals] cli allowlist); the attempt was recorded"
    )
    assert logs == [{
        "event": "approvals.refused", "log_level": "warning",
        "request_id": request.request_id, "action": "approve", "channel": "cli",
        "identity": "mallory", "reason": "not on the [approvals] cli allowlist",
    }]
    with pytest.raises(ApprovalError, match="'mallory' via cli may not reject"):
        queue.reject(request.request_id, approver=MALLORY, reason="mine now")

    after = queue.get(request.request_id)
    assert (after.status, after.approvals, after.decided_by) == (ApprovalStatus.PENDING, (), None)
    assert [(r.action, r.channel, r.identity, r.refused_at) for r in queue.refusals()] == [
        ("reject", "cli", "mallory", clock.now), ("approve", "cli", "mallory", clock.now)]
    assert str(queue.refusals()[0]) == "refused: 'mallory' via cli (reject)"
    with sqlite3.connect(db_path) as con:
        rows = con.execute("SELECT request_id, action, channel, identity FROM approval_refusals "
                           "ORDER BY refusal_id").fetchall()
    assert rows == [(request.request_id, "approve", "cli", "mallory"),
                    (request.request_id, "reject", "cli", "mallory")]
    assert queue.approve(request.request_id, approver=ALICE).status is ApprovalStatus.APPROVED


def test_a_stranger_learns_nothing_about_requests(queue):
    decided = queue.request(make_order(), tier=Tier.HUMAN)
    queue.approve(decided.request_id, approver=ALICE)
    for request_id in (decided.request_id, "a-000000000000"):
        with pytest.raises(ApprovalError, match="'mallory' via cli may not approve"):
            queue.approve(request_id, approver=MALLORY)
    assert [r.request_id for r in queue.refusals()] == ["a-000000000000", decided.request_id]


def test_one_person_counts_once_toward_a_quorum_whichever_channel_they_use(queue):
    request = queue.request(make_order(), tier=Tier.QUORUM, required_approvals=2)
    queue.approve(request.request_id, approver=ALICE)
    for again in (ALICE, Approver(Channel.TUI, "alice"), Approver(Channel.TELEGRAM, "123456789")):
        with pytest.raises(ApprovalError, match="alice has already approved it"):
            queue.approve(request.request_id, approver=again)
    pending = queue.get(request.request_id)
    assert (pending.status, pending.approvals) == (ApprovalStatus.PENDING, ("alice",))
    done = queue.approve(request.request_id, approver=Approver(Channel.TELEGRAM, "555000111"))
    assert (done.status, done.approvals) == (ApprovalStatus.APPROVED, ("alice", "dave"))


@pytest.mark.parametrize(
    ("approver", "channel"),
    [
        (Approver(Channel.CLI, "555000111"), "cli"),     # dave's Telegram id, typed at the CLI
        (Approver(Channel.CLI, "dave"), "cli"),          # dave is on Telegram only
        (Approver(Channel.TELEGRAM, "dave"), "telegram"),  # Telegram knows people by number
        (Approver(Channel.TELEGRAM, "987654321"), "telegram"),
        (Approver(Channel.TUI, "bob"), "tui"),           # bob is on the CLI only
        (Approver(Channel.CLI, "Alice"), "cli"),         # names are exact
        (Approver(Channel.CLI, ""), "cli"),
    ],
)
def test_each_channel_admits_only_its_own_allowlist(queue, approver, channel):
    request = queue.request(make_order(), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError, match=f"not on the \\[approvals\\] {channel} allowlist"):
        queue.approve(request.request_id, approver=approver)
    assert [(r.channel, r.identity) for r in queue.refusals([request.request_id])] == [
        (channel, approver.identity)]
    assert queue.get(request.request_id).status is ApprovalStatus.PENDING


def test_a_bare_name_is_not_an_approver(queue):
    request = queue.request(make_order(), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError, match="must be an Approver\\(channel, identity\\), not str"):
        queue.approve(request.request_id, approver="alice")
    assert queue.get(request.request_id).approvals == ()


def test_a_long_identity_is_cut_in_the_record(queue):
    request = queue.request(make_order(), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError):
        queue.approve(request.request_id, approver=Approver(Channel.CLI, "m" * 10_000))
    assert queue.refusals()[0].identity == "m" * 64 + "…"


def test_only_quorum_itself_cancels_and_cancelling_only_rejects(queue):
    request = queue.request(make_order(), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError, match="cancel is for Quorum's own actors"):
        queue.cancel(request.request_id, by="mallory", reason="nobody asked")
    cancelled = queue.cancel(request.request_id, by="quorum:run-ended", reason="run ended")
    assert (cancelled.status, cancelled.decided_by, cancelled.reason) == (
        ApprovalStatus.REJECTED, "quorum:run-ended", "run ended")
    with pytest.raises(ApprovalError, match="already rejected"):
        queue.cancel(request.request_id, by="quorum:run-ended", reason="again")


def test_without_a_config_only_the_os_user_decides_and_telegram_nobody(engine):
    me = getpass.getuser()
    queue = ApprovalQueue(engine)
    mine, theirs = (queue.request(make_order(n), tier=Tier.HUMAN) for n in range(2))
    assert queue.approve(mine.request_id, approver=Approver(Channel.CLI, me)).decided_by == me
    for stranger in (Approver(Channel.CLI, me + "x"), Approver(Channel.TELEGRAM, "123456789")):
        with pytest.raises(ApprovalError, match="may not approve"):
            queue.approve(theirs.request_id, approver=stranger)
    assert queue.reject(theirs.request_id, approver=Approver(Channel.TUI, me)).decided_by == me


def test_refusals_survive_a_restart(engine, db_path, clock):
    request = ApprovalQueue(engine, clock=clock).request(make_order(), tier=Tier.HUMAN)
    with pytest.raises(ApprovalError):
        ApprovalQueue(engine, approvers=APPROVERS, clock=clock).approve(
            request.request_id, approver=MALLORY)
    engine.dispose()
    reopened = make_engine(f"sqlite:///{db_path}")
    [refusal] = ApprovalQueue(reopened).refusals([request.request_id])
    assert (refusal.identity, refusal.channel, refusal.refused_at) == ("mallory", "cli", clock.now)
    reopened.dispose()
