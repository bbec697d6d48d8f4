"""`quorum approvals ...` as a person runs it: a real process, a real database, a real config."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.models import ApprovalStatus, Order, Side, Tier
from state.approvals import ApprovalQueue
from state.db import make_engine
from tests.core.test_cli import error_line, quorum

ALLOWLIST = '[approvals]\ncli = ["alice", "bob"]\ntelegram = { dave = 555000111 }\n'


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "quorum.toml"
    path.write_text(ALLOWLIST, encoding="utf-8")
    return str(path)


@pytest.fixture
def queue(db_url: str) -> ApprovalQueue:
    engine = make_engine(db_url)
    yield ApprovalQueue(engine)
    engine.dispose()


def _request(queue: ApprovalQueue, n: int, *, required: int = 1) -> str:
    order = Order(order_id=f"o-{n}", decision_id=f"d-{n}", tick=1, created_at=datetime.now(UTC),
                  asset="ETH", side=Side.BUY, notional_usd=20_000)
    tier = Tier.QUORUM if required > 1 else Tier.HUMAN
    return queue.request(order, tier=tier, required_approvals=required).request_id


def test_people_on_the_cli_allowlist_list_approve_and_reject(queue, db_url, config):
    first, second = _request(queue, 0), _request(queue, 1)
    listed = quorum("approvals", "list", "--db", db_url)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [second, first]
    approved = quorum("approvals", "approve", first, "--as", "alice", "--config", config,
                      "--db", db_url)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == f"{first}: approved (1/1 approvals)"
    again = quorum("approvals", "approve", first, "--as", "bob", "--config", config, "--db", db_url)
    assert error_line(again) == f"error: request {first} is already approved"
    rejected = quorum("approvals", "reject", second, "--as", "bob", "--reason", "too big",
                      "--config", config, "--db", db_url)
    assert rejected.stdout.strip() == f"{second}: rejected"
    assert (queue.get(first).decided_by, queue.get(second).decided_by) == ("alice", "bob")
    assert queue.get(second).reason == "too big"


def test_a_stranger_is_refused_in_one_line_and_the_refusal_is_kept_and_shown(
    queue, db_url, config
):
    request_id = _request(queue, 0)
    for action in ("approve", "reject"):
        result = quorum("approvals", action, request_id, "--as", "mallory", "--config", config,
                        "--db", db_url)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        *logged, last = result.stderr.strip().splitlines()
        assert last == (f"error: request {request_id}: 'mallory' via cli may not {action} "
                        "(not on the [approvals] cli allowlist); the attempt was recorded")
        event = json.loads(logged[-1])
        assert {k: event[k] for k in ("event", "level", "identity", "channel", "action")} == {
            "event": "approvals.refused", "level": "warning", "identity": "mallory",
            "channel": "cli", "action": action}
    assert queue.get(request_id).status is ApprovalStatus.PENDING
    assert [(r.identity, r.action) for r in queue.refusals()] == [
        ("mallory", "reject"), ("mallory", "approve")]

    listed = quorum("approvals", "list", "--db", db_url).stdout.strip()
    assert listed.startswith(request_id) and listed.endswith("refused attempts 2")
    shown = quorum("approvals", "show", request_id, "--db", db_url).stdout.splitlines()
    refused = [line.strip() for line in shown if line.strip().startswith("refused:")]
    assert [line.split(" at ")[0] for line in refused] == [
        "refused: 'mallory' via cli (reject)", "refused: 'mallory' via cli (approve)"]
    assert all(line.endswith("Z: not on the [approvals] cli allowlist") for line in refused)


def test_a_telegram_identity_cannot_decide_through_the_cli(queue, db_url, config):
    request_id = _request(queue, 0)
    for identity in ("dave", "555000111"):
        result = quorum("approvals", "approve", request_id, "--as", identity, "--config", config,
                        "--db", db_url)
        assert result.stderr.strip().splitlines()[-1].startswith(
            f"error: request {request_id}: '{identity}' via cli may not approve")
    assert queue.get(request_id).approvals == ()


def test_two_people_make_a_quorum_and_one_person_twice_does_not(queue, db_url, config):
    request_id = _request(queue, 0, required=2)

    def approve(name: str):
        return quorum("approvals", "approve", request_id, "--as", name, "--config", config,
                      "--db", db_url)

    assert approve("alice").stdout.strip() == f"{request_id}: pending (1/2 approvals)"
    line = error_line(approve("alice"))
    assert line == f"error: request {request_id}: alice has already approved it"
    assert approve("bob").stdout.strip() == f"{request_id}: approved (2/2 approvals)"
    assert queue.get(request_id).approvals == ("alice", "bob")


def test_without_config_or_as_the_os_user_decides_alone(queue, db_url):
    me = getpass.getuser()
    mine, theirs = _request(queue, 0), _request(queue, 1)
    approved = quorum("approvals", "approve", mine, "--db", db_url)
    assert approved.returncode == 0, approved.stderr
    assert queue.get(mine).decided_by == me
    refused = quorum("approvals", "reject", theirs, "--as", "alice", "--db", db_url)
    assert refused.stderr.strip().splitlines()[-1].startswith(
        f"error: request {theirs}: 'alice' via cli may not reject")
    assert queue.get(theirs).status is ApprovalStatus.PENDING


def test_a_bad_approvals_section_is_one_error_line_naming_file_and_key(tmp_path, queue, db_url):
    request_id = _request(queue, 0)
    path = tmp_path / "bad.toml"
    path.write_text('[approvals]\ntelegram = { alice = "@alice" }\n', encoding="utf-8")
    line = error_line(quorum("approvals", "approve", request_id, "--config", str(path),
                             "--db", db_url))
    assert line.startswith(f"error: {path}: approvals.telegram: alice = '@alice' is a username")
    assert queue.get(request_id).status is ApprovalStatus.PENDING and queue.refusals() == []


def test_show_reports_a_request_past_its_expiry_as_expired(db_url):
    """As `list` does; `show` said pending for a request nobody can approve any more."""
    engine = make_engine(db_url)
    queue = ApprovalQueue(engine, clock=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    request_id = _request(queue, 0)
    engine.dispose()
    shown = quorum("approvals", "show", request_id, "--db", db_url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split()[:2] == [request_id, "expired"]




def test_all_and_a_status_together_are_refused(queue, db_url):
    result = quorum("approvals", "list", "--all", "--status", "approved", "--db", db_url)
    assert error_line(result) == "error: --all lists every status; leave out --status"
