"""The policy engine: the shipped policy, how results combine, tiers, bad files, missing context."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import timedelta

import pytest

from core.errors import ConfigError
from core.models import CASH, Deposit, RuleFiring, Tier, Withdraw
from policies.base import HISTORY, PORTFOLIO, RESERVED, rules
from policies.engine import DEFAULT_POLICY, PolicyEngine
from policies.tiers import TiersConfig
from tests.policies.support import (
    SHIPPED_RULES,
    TIERS,
    context,
    engine_with,
    fired,
    state,
    trade,
    write,
)


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load()


def test_the_shipped_policy_loads_every_rule_in_file_order(engine):
    assert [rule.id for rule in engine.rules] == SHIPPED_RULES
    assert set(SHIPPED_RULES) == set(rules())  # every rule ships, configured
    assert engine.version.startswith("default-2@")
    assert engine.policy.live_enabled is False
    assert engine.tiers == TiersConfig(
        auto_max_usd=10_000, human_max_usd=100_000, quorum_max_usd=500_000,
        quorum_required=2, approval_expiry_s=900,
    )
    assert engine.lookback_s == 86_400  # the daily loss limit looks back furthest
    assert PolicyEngine.load(DEFAULT_POLICY).version == engine.version


def test_every_rule_and_key_of_the_shipped_policy_is_documented_in_it():
    """Each [rules.*] table has a comment above it that names every key the table sets."""
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    tables = tomllib.loads(text)["rules"]
    blocks = text.split("\n\n")
    for rule_id, table in tables.items():
        block = next(b for b in blocks if f"[rules.{rule_id}]" in b)
        comment = block.split(f"[rules.{rule_id}]")[0]
        assert comment.strip().startswith("#"), f"[rules.{rule_id}] has no comment"
        for key in table:
            assert key in comment, f"rules.{rule_id}.{key} is not described above its table"


def test_the_shipped_volatile_share_is_forty_percent(engine):
    rule = next(r for r in engine.rules if r.id == "max_volatile_share")
    assert rule.config.max_share == 0.4


def test_a_proposal_within_every_limit_is_allowed_with_only_the_tier_entry(engine):
    verdict = engine.evaluate(context(notional=5_000))
    assert verdict.allowed and verdict.tier is Tier.AUTO
    assert verdict.notional_usd == 5_000
    assert verdict.decision_id == "d-1"
    assert verdict.policy_version == engine.version
    assert verdict.fired == (
        RuleFiring(rule="tiers", effect="tier", reason="notional 5,000.00 <= auto_max_usd 10,000: auto"),
    )


def test_every_rule_that_fired_is_listed_in_order_with_its_reason(tmp_path):
    engine = engine_with(tmp_path, """
[rules.max_position_share]
max_share = 0.5
[rules.min_notional]
min_usd = 1
""")
    # 0.5 of room left: resized to 0.5, then too small to be worth the fees.
    verdict = engine.evaluate(context(notional=1_000, cash=50_000.5, holdings={"BTC": 499.995}))
    assert not verdict.allowed
    assert verdict.notional_usd == pytest.approx(0.5)
    assert fired(verdict) == [("max_position_share", "resize"), ("min_notional", "deny"),
                              ("tiers", "tier")]
    assert all(f.reason for f in verdict.fired)


def test_every_deny_is_listed_not_just_the_first(engine):
    verdict = engine.evaluate(context(notional=300_000, asset="DOGE", cash=10_000_000))
    assert ("asset_allowlist", "deny") in fired(verdict)
    assert ("max_notional", "deny") in fired(verdict)
    assert fired(verdict)[-1] == ("tiers", "tier")


def test_a_rule_can_raise_the_tier_but_never_lower_it(tmp_path):
    engine = engine_with(tmp_path, "[rules.max_slippage]\nmax_bps = 100\nhuman_above_bps = 50\n")
    raised = engine.evaluate(context(notional=5_000, slippage_bps=60))
    assert raised.allowed and raised.tier is Tier.HUMAN
    assert fired(raised) == [("max_slippage", "tier"), ("tiers", "tier")]
    assert raised.fired[-1].reason == "notional 5,000.00 <= auto_max_usd 10,000: auto"
    # a notional that already needs a quorum keeps the quorum
    kept = engine.evaluate(context(notional=200_000, slippage_bps=60, cash=10_000_000))
    assert kept.tier is Tier.QUORUM


@pytest.mark.parametrize(
    ("notional", "tier"),
    [
        (0.0, Tier.AUTO),
        (10_000.0, Tier.AUTO),
        (10_000.01, Tier.HUMAN),
        (100_000.0, Tier.HUMAN),
        (100_000.01, Tier.QUORUM),
        (500_000.0, Tier.QUORUM),
        (500_000.01, Tier.DENY),
    ],
)
def test_tiers_at_the_boundaries(engine, notional, tier):
    assert engine.tiers.tier_for(notional) is tier


@pytest.mark.parametrize(
    ("notional", "tier"),
    [(10_000, Tier.AUTO), (10_001, Tier.HUMAN), (100_001, Tier.QUORUM), (500_001, Tier.DENY)],
)
def test_the_engine_tiers_the_notional_when_no_rule_fires(tmp_path, notional, tier):
    verdict = engine_with(tmp_path, "").evaluate(context(notional=notional, cash=10_000_000))
    assert verdict.tier is tier
    assert verdict.allowed is (tier is not Tier.DENY)
    assert fired(verdict) == [("tiers", "tier")]
    if tier is Tier.DENY:
        assert "(hard cap)" in verdict.fired[-1].reason


def test_required_approvals_by_tier(engine):
    assert engine.tiers.required_approvals(Tier.QUORUM) == 2
    assert engine.tiers.required_approvals(Tier.HUMAN) == 1


def test_a_proposal_sized_to_nothing_is_denied_even_without_a_min_notional_rule(tmp_path):
    """Regression: risk sized a buy to 0 (cash all reserved), the policy let it through as auto,
    and the zero-quantity fill crashed the next tick."""
    base = context(notional=1_000)
    sized_to_zero = dataclasses.replace(
        base, assessment=base.assessment.model_copy(update={"sized_notional_usd": 0.0})
    )
    verdict = engine_with(tmp_path, "").evaluate(sized_to_zero)
    assert not verdict.allowed and verdict.tier is Tier.DENY
    assert ("sizing", "deny") in fired(verdict)


def test_a_rule_missing_its_context_denies_and_names_what_is_missing(engine):
    """Fail closed: no history means the loss and lock rules cannot judge, so nothing passes."""
    judgement = engine.judge(context(notional=5_000, with_history=False))
    verdict = judgement.verdict
    assert not verdict.allowed
    unjudged = {f.rule for f in judgement.unjudged}
    assert unjudged == {"kill_switch", "stale_data", "max_drawdown", "daily_loss_limit",
                        "stoploss_guard", "loss_cooldown", "max_trades_per_hour"}
    assert all(f.reason == "cannot judge: the context lacks history" for f in judgement.unjudged)
    assert set(judgement.unjudged) <= set(verdict.fired)


def test_rules_that_do_not_apply_to_an_exit_never_ask_for_its_history(engine):
    """An exit is judged without history: the entry locks do not apply to it."""
    judgement = engine.judge(context(notional=5_000, sell=True, holdings={"BTC": 100},
                                     with_history=False))
    assert [f.rule for f in judgement.unjudged] == ["stale_data"]
    missing_portfolio = dataclasses.replace(context(notional=5_000),
                                            missing=frozenset({PORTFOLIO, RESERVED}))
    lacking = engine.judge(missing_portfolio).unjudged
    assert {f.rule for f in lacking} == {"max_drawdown", "max_position_share", "max_volatile_share"}
    assert lacking[-1].reason == "cannot judge: the context lacks portfolio, reserved"


def test_a_history_shorter_than_a_rule_looks_back_is_missing_context(tmp_path):
    engine = engine_with(tmp_path, "[rules.loss_cooldown]\ncooldown_s = 7200\n")
    short = state(retained_s=3600)  # kept one hour, the run is a month old
    judgement = engine.judge(context(notional=5_000, history=short))
    assert [f.reason for f in judgement.unjudged] == [
        "cannot judge: the context lacks history back 7200s (it reaches 3600s)"
    ]
    young = state(retained_s=3600, since=short.now - timedelta(minutes=30))
    assert engine.judge(context(notional=5_000, history=young)).unjudged == ()
    assert HISTORY in engine.rules[0].needs


def test_deposits_and_withdrawals_pass_the_swap_and_buy_rules(engine):
    deposit = Deposit(asset="USDC", protocol="aave-v3")
    verdict = engine.evaluate(context(notional=5_000, action=deposit))
    assert verdict.allowed, verdict.fired
    withdraw = engine.evaluate(context(notional=5_000, action=Withdraw(asset="USDC",
                                                                    protocol="unknown-fi")))
    assert ("protocol_allowlist", "deny") not in fired(withdraw)
    assert context(notional=1, action=deposit).proposal.asset != CASH


def test_the_history_of_trades_and_an_engaged_kill_switch_lock_entries(engine):
    losing = state(trades=[trade(10, -500.0)], kill_switch=True)
    verdict = engine.evaluate(context(notional=5_000, history=losing))
    assert not verdict.allowed
    assert [r for r, e in fired(verdict) if e == "deny"] == ["kill_switch", "loss_cooldown"]


# -- bad files ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[rules.no_such_rule]\nx = 1\n", "unknown rule [rules.no_such_rule]; known: asset_allowlist"),
        ("[rules.max_notional]\nmax_usdd = 5\n", "rules.max_notional.max_usdd: unknown key"),
        ("[rules.max_notional]\nmax_usd = -5\n", "rules.max_notional.max_usd:"),
        ("[rules.max_position_share]\nmax_share = 2\n", "rules.max_position_share.max_share:"),
        ("[rules.kill_switch]\nengaged = true\n", "rules.kill_switch.engaged: unknown key"),
        ("[rules.stoploss_guard]\ntrade_limit = 3\nlookback_s = 60\n",
         "rules.stoploss_guard.lock_s: Field required"),
        ("[rules.daily_loss_limit]\n", "rules.daily_loss_limit: set max_loss_usd"),
        ("[rules.max_slippage]\nmax_bps = 50\nhuman_above_bps = 80\n",
         "rules.max_slippage: human_above_bps must be below max_bps"),
        ("[rules.max_volatile_share]\nmax_share = 0\n", "rules.max_volatile_share.max_share:"),
        ("[rules.stale_data]\nmax_age_s = 'soon'\n", "rules.stale_data.max_age_s:"),
        ("[rules]\nmax_notional = 5\n",
         "rules.max_notional: expected a table of keys (max_notional.KEY = value), got a number"),
        ("surprise = true\n", "surprise: unknown key"),
    ],
)
def test_a_bad_policy_file_names_the_file_and_the_key(tmp_path, extra, expected):
    path = write(tmp_path, TIERS + extra)
    with pytest.raises(ConfigError) as info:
        PolicyEngine.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_tiers_out_of_order_are_a_config_error(tmp_path):
    path = write(
        tmp_path,
        'version = "t"\n[tiers]\nauto_max_usd = 200000\nhuman_max_usd = 100000\n'
        "quorum_max_usd = 500000\n",
    )
    with pytest.raises(ConfigError) as info:
        PolicyEngine.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: tiers: ")
    assert "auto_max_usd <= human_max_usd <= quorum_max_usd" in message


def test_a_missing_tier_key_is_named(tmp_path):
    path = write(tmp_path, 'version = "t"\n[tiers]\nauto_max_usd = 1\nhuman_max_usd = 2\n')
    with pytest.raises(ConfigError, match="tiers.quorum_max_usd: Field required"):
        PolicyEngine.load(path)


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path):
    path = write(tmp_path, 'version = "t"\n[tiers\nauto_max_usd = 1\n')
    with pytest.raises(ConfigError) as info:
        PolicyEngine.load(path)
    assert str(info.value).startswith(f"{path}: not valid TOML")


def test_a_missing_policy_file_is_a_config_error(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="policy file not found") as info:
        PolicyEngine.load(path)
    assert str(path) in str(info.value)
