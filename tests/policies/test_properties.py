"""Property tests: random proposals, singly and in concurrent pairs, against a policy with every
rule configured (tests/policies/every_cap.py). No allowed verdict may break a configured cap.

In a pair the second proposal is judged with the first one's reservation counted, as the
governor does, and the pair together must keep every cap. Then each time or history rule alone,
in worlds with losses near the edges of its window. Derandomized, no example database: the same
examples on every machine, about 20 s in all.
"""

from __future__ import annotations

import functools
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import Side, Tier
from policies.engine import PolicyEngine
from tests.policies.every_cap import (
    LOCK_RULES,
    MAX_AGE_S,
    MAX_AHEAD_S,
    POLICY,
    broken_caps,
    build,
    entry_locks,
    exposure_caps,
    proposals,
    with_reservation,
    worlds,
)
from tests.policies.support import write

# Each strategy is built once (proposals: once per focus asset), not on every example: hypothesis
# validates a new strategy object each time one is drawn from (10-15% of these tests' time).
# Same strategies, same draws, so the same derandomized examples (hypothesis seeds them from the
# source of `single` and `pair`, which these names leave as they were).
worlds = functools.cache(worlds)
proposals = functools.cache(proposals)

SINGLES = 5_000
PAIRS = 2_500  # two proposals each: 10,000 proposals against every cap at once
ONE_LOCK = 500  # and this many against each time or history rule alone (3,500 more)
PROFILE = settings(max_examples=SINGLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> PolicyEngine:
    return PolicyEngine.load(write(tmp_path_factory.mktemp("policy"), POLICY))


def only(rule: str, tmp_path) -> PolicyEngine:
    """The same policy with one rule left: every verdict then hinges on it (no other rule masks
    a loss 59 minutes ago, as the cooldown masks the stop-loss guard in the full policy)."""
    tables = POLICY.split("\n[rules.")
    kept = [t for t in tables[1:] if t.split("]")[0] == rule]
    return PolicyEngine.load(write(tmp_path, "\n[rules.".join([tables[0], *kept])))


# -- the properties ------------------------------------------------------------------------------

def test_no_allowed_proposal_breaks_a_configured_cap(engine):
    seen: Counter = Counter()

    @PROFILE
    @given(data=st.data())
    def single(data):
        world = data.draw(worlds(), label="world")
        ctx = build(world, data.draw(proposals(world["focus"]), label="proposal"))
        verdict = engine.evaluate(ctx)
        _count(seen, verdict)
        assert verdict.fired[-1].rule == "tiers"
        assert (verdict.tier is Tier.DENY) is (not verdict.allowed)
        if verdict.allowed:
            assert broken_caps(ctx, verdict.notional_usd, verdict.tier) == [], verdict

    single()
    _assert_both_sides_were_explored(seen, examples=SINGLES)


def test_no_allowed_pair_breaks_a_cap_together(engine):
    """Two proposals in one tick: the second sees the first's reservation, and the two together
    must keep every cap that neither breaks alone."""
    seen: Counter = Counter()

    @settings(PROFILE, max_examples=PAIRS)
    @given(data=st.data())
    def pair(data):
        world = data.draw(worlds(), label="world")
        first = data.draw(proposals(world["focus"]), label="first")
        second = data.draw(proposals(world["focus"]), label="second")
        ctx1 = build(world, first)
        v1 = engine.evaluate(ctx1)
        ctx2 = with_reservation(build(world, second), ctx1, v1)
        v2 = engine.evaluate(ctx2)
        _count(seen, v1)
        _count(seen, v2)
        if v1.allowed:
            assert broken_caps(ctx1, v1.notional_usd, v1.tier) == [], v1
        if not v2.allowed:
            return
        assert broken_caps(ctx2, v2.notional_usd, v2.tier) == [], v2
        # the pair against the book as it was before either: caps they would break together
        buys: dict[str, float] = {}
        for proposal, verdict in ((ctx1.proposal, v1), (ctx2.proposal, v2)):
            if verdict.allowed and proposal.side is Side.BUY:
                buys[proposal.asset] = buys.get(proposal.asset, 0.0) + verdict.notional_usd
        seen["pairs both allowed"] += v1.allowed
        assert exposure_caps(ctx1, buys) == [], (v1, v2)
        if not ctx2.proposal.reduces_risk:
            assert "max_trades_per_hour" not in entry_locks(
                build(world, second), pending_extra=int(v1.allowed)), (v1, v2)

    pair()
    _assert_both_sides_were_explored(seen, examples=2 * PAIRS)
    assert seen["pairs both allowed"] > PAIRS // 20


EDGY_WORLDS = worlds(edgy=True)


@pytest.mark.parametrize("rule", LOCK_RULES)
def test_no_allowed_entry_slips_through_a_lock_at_the_edge_of_its_window(rule, tmp_path):
    """One time or history rule at a time, so examples near a window's edge (a loss 59 or 61
    minutes ago) decide the verdict."""
    engine = only(rule, tmp_path)
    seen: Counter = Counter()

    @settings(PROFILE, max_examples=ONE_LOCK)
    @given(data=st.data())
    def single(data):
        world = data.draw(EDGY_WORLDS, label="world")
        ctx = build(world, data.draw(proposals(world["focus"]), label="proposal"))
        verdict = engine.evaluate(ctx)
        _count(seen, verdict)
        if not verdict.allowed:
            return
        if rule == "stale_data":
            age_s = (ctx.history.now - ctx.snapshot.ts).total_seconds()
            assert -MAX_AHEAD_S <= age_s <= MAX_AGE_S, verdict
        elif not ctx.proposal.reduces_risk:
            assert rule not in entry_locks(ctx, pending_extra=0), verdict

    single()
    assert ONE_LOCK // 10 < seen["allowed"] < ONE_LOCK - ONE_LOCK // 10, seen
    assert seen[rule] > ONE_LOCK // 40, seen


def _count(seen: Counter, verdict) -> None:
    seen["allowed" if verdict.allowed else "denied"] += 1
    seen["resized"] += any(f.effect == "resize" for f in verdict.fired)
    for firing in verdict.fired:
        if firing.effect in ("deny", "resize", "tier") and firing.rule != "tiers":
            seen[firing.rule] += 1


def _assert_both_sides_were_explored(seen: Counter, *, examples: int) -> None:
    """The examples must reach both sides of every cap, or the property proves nothing."""
    assert seen["allowed"] + seen["denied"] == examples
    assert seen["allowed"] > examples // 20, seen
    assert seen["resized"] > examples // 100, seen
    every_rule = {"kill_switch", "stale_data", "asset_allowlist", "protocol_allowlist",
                  "max_drawdown", "daily_loss_limit", "stoploss_guard", "loss_cooldown",
                  "max_trades_per_hour", "max_slippage", "max_notional", "max_position_share",
                  "max_volatile_share", "min_liquidity", "min_notional"}
    quiet = {rule for rule in every_rule if seen[rule] < examples // 200}
    assert not quiet, f"rules that almost never fired: {sorted(quiet)}; {seen}"
