"""Builders shared by the end-to-end tests: settings, a policy file, a person at the queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.config import Settings
from core.feeds.synthetic import generate
from state.approvals import ApprovalQueue
from state.approvers import ApprovalsConfig, Approver, Channel

POLICY = """
version = "test-1"
[tiers]
auto_max_usd = {auto_max}
human_max_usd = 100000
quorum_max_usd = 500000
quorum_required = 2
approval_expiry_s = 900
[rules.asset_allowlist]
assets = ["BTC", "ETH"]
[rules.max_notional]
max_usd = 250000
[rules.max_position_share]
max_share = 0.5
[rules.min_notional]
min_usd = 10
"""

VOLATILE_KEYS = {"created_at", "expires_at", "decided_at", "decision_id", "order_id",
                 "request_id", "run_id", "payload_hash", "nonce", "decided_by"}


def write_policy(tmp_path: Path, *, auto_max: float) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY.format(auto_max=auto_max), encoding="utf-8")
    return path


def settings(*, policy: Path, assets=("BTC", "ETH", "SOL"), seed: int = 11) -> Settings:
    return Settings.model_validate(
        {
            "run": {"seed": seed, "cash_usd": 100_000},
            "data": {"assets": list(assets), "bars": 400},
            "strategies": {"enabled": ["sma_cross"], "sma_cross": {"fast": 5, "slow": 20}},
            "reviewer": {"min_confidence": 0.0},
            "policy_file": str(policy),
        }
    )


def market(s: Settings, *, bars: int):
    return generate(assets=s.data.assets, bars=bars, bar_seconds=s.data.bar_seconds,
                    start=s.data.start, seed=s.run.seed)


PEOPLE = ApprovalsConfig(cli=("alice", "approver0", "approver1"))
"""The people at the queue in these tests; pass as ApprovalQueue(engine, approvers=PEOPLE)."""


def approve_all_pending(queue: ApprovalQueue, *, reject_first: bool = False) -> int:
    """A person at the queue: approves every pending request (rejecting the very first one)."""
    decided = 0
    for request in queue.list():
        if request.status.value != "pending":
            continue
        if reject_first and decided == 0:
            queue.reject(request.request_id, approver=Approver(Channel.CLI, "alice"), reason="not now")
        else:
            for n in range(request.required_approvals):
                queue.approve(request.request_id, approver=Approver(Channel.CLI, f"approver{n}"))
        decided += 1
    return decided


def scrub(value: Any) -> Any:
    """A log payload without the per-run identifiers and wall-clock times."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, float):
        return round(value, 9)
    return value
