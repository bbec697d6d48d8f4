"""The policy engine: the shipped policy, each rule's reason, tiers, bad files, and invariants."""

from __future__ import annotations

import dataclasses

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from core.models import (
    CASH,
    Bar,
    MarketSnapshot,
    PortfolioState,
    Position,
    Proposal,
    RiskAssessment,
    RuleFiring,
    Swap,
    Tier,
)
from policies.base import PolicyContext
from policies.engine import DEFAULT_POLICY, PolicyEngine
from policies.tiers import TiersConfig

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PRICE = 100.0
ALLOWED = ("BTC", "ETH", "WBTC", "WETH", "SOL", "LTC", "XRP", "ETC", "DASH", "XMR")


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load()


def _context(
    *,
    notional: float,
    asset: str = "BTC",
    sell: bool = False,
    cash: float = 1_000_000.0,
    holdings: dict[str, float] | None = None,
    prices: dict[str, float] | None = None,
    reserved: dict[str, float] | None = None,
) -> PolicyContext:
    holdings = holdings or {}
    action = Swap(sell=asset, buy=CASH) if sell else Swap(sell=CASH, buy=asset)
    proposal = Proposal(
        decision_id="d-1",
        tick=1,
        ts=T0,
        strategy="test",
        action=action,
        notional_usd=notional,
        rationale="test",
        confidence=0.9,
    )
    assessment = RiskAssessment(
        decision_id="d-1",
        requested_notional_usd=notional,
        sized_notional_usd=notional,
        position_share_after=0.0,
        volatility_per_bar=0.01,
        var_95_usd=0.0,
        expected_slippage_bps=2.0,
    )
    portfolio = PortfolioState(
        tick=1,
        ts=T0,
        cash_usd=cash,
        positions={
            a: Position(asset=a, quantity=q, avg_entry_price=PRICE) for a, q in holdings.items()
        },
        prices=prices if prices is not None else {a: PRICE for a in holdings},
        initial_equity_usd=cash,
    )
    bar = Bar(asset=asset, ts=T0, open=PRICE, high=PRICE, low=PRICE, close=PRICE, volume=1e6)
    snapshot = MarketSnapshot(tick=1, ts=T0, bars={asset: bar})
    return PolicyContext(
        proposal=proposal,
        assessment=assessment,
        portfolio=portfolio,
        snapshot=snapshot,
        reserved_usd_by_asset=reserved or {},
    )


def _rules_fired(verdict) -> list[tuple[str, str]]:
    return [(f.rule, f.effect) for f in verdict.fired]


def test_default_policy_loads_with_its_rules_in_file_order(engine):
    assert [rule.id for rule in engine.rules] == [
        "asset_allowlist",
        "max_notional",
        "max_position_share",
        "min_notional",
    ]
    assert engine.version.startswith("default-1@")
    assert engine.policy.live_enabled is False
    assert engine.tiers == TiersConfig(
        auto_max_usd=10_000, human_max_usd=100_000, quorum_max_usd=500_000,
        quorum_required=2, approval_expiry_s=900,
    )
    assert PolicyEngine.load(DEFAULT_POLICY).version == engine.version


def test_a_proposal_within_every_limit_is_allowed_with_only_the_tier_entry(engine):
    verdict = engine.evaluate(_context(notional=5_000))
    assert verdict.allowed and verdict.tier is Tier.AUTO
    assert verdict.notional_usd == 5_000
    assert verdict.decision_id == "d-1"
    assert verdict.policy_version == engine.version
    assert verdict.fired == (
        RuleFiring(rule="tiers", effect="tier", reason="notional 5,000.00 <= auto_max_usd 10,000: auto"),
    )


def test_an_asset_off_the_allowlist_is_denied(engine):
    verdict = engine.evaluate(_context(notional=5_000, asset="DOGE"))
    assert not verdict.allowed and verdict.tier is Tier.DENY
    assert verdict.fired[0] == RuleFiring(
        rule="asset_allowlist", effect="deny", reason="DOGE is not on the allowlist"
    )
    assert _rules_fired(verdict) == [("asset_allowlist", "deny"), ("tiers", "tier")]


def test_a_sell_of_an_asset_off_the_allowlist_is_denied_too(engine):
    verdict = engine.evaluate(_context(notional=5_000, asset="DOGE", sell=True))
    assert not verdict.allowed
    assert verdict.fired[0].rule == "asset_allowlist"


def test_a_trade_above_max_notional_is_denied_not_resized(engine):
    verdict = engine.evaluate(_context(notional=300_000, cash=10_000_000))
    assert not verdict.allowed and verdict.tier is Tier.DENY
    assert verdict.fired[0] == RuleFiring(
        rule="max_notional", effect="deny", reason="notional 300,000.00 > max 250,000.00 per trade"
    )
    assert _rules_fired(verdict) == [("max_notional", "deny"), ("tiers", "tier")]


def test_a_buy_beyond_max_position_share_is_resized_to_the_room_left(engine):
    # 100k equity, 20k already in BTC: 50% leaves 30k of room for an 80k request.
    verdict = engine.evaluate(_context(notional=80_000, cash=80_000, holdings={"BTC": 200}))
    assert verdict.allowed
    assert verdict.notional_usd == pytest.approx(30_000)
    assert verdict.tier is Tier.HUMAN  # the tier is for the resized notional
    assert verdict.fired[0] == RuleFiring(
        rule="max_position_share",
        effect="resize",
        reason="resized to 30,000.00 to keep BTC within 50% of equity",
    )
    assert _rules_fired(verdict) == [("max_position_share", "resize"), ("tiers", "tier")]
    assert verdict.fired[-1].reason == "notional 30,000.00 <= human_max_usd 100,000: human"


def test_a_buy_of_an_asset_already_at_max_position_share_is_denied(engine):
    verdict = engine.evaluate(_context(notional=1_000, cash=40_000, holdings={"BTC": 600}))
    assert not verdict.allowed
    assert verdict.fired[0] == RuleFiring(
        rule="max_position_share", effect="deny", reason="BTC already at 60.0% of equity (max 50%)"
    )


def test_max_position_share_does_not_limit_sells(engine):
    verdict = engine.evaluate(_context(notional=60_000, sell=True, cash=40_000, holdings={"BTC": 600}))
    assert verdict.allowed
    assert verdict.notional_usd == 60_000


def test_reserved_in_flight_buys_count_against_max_position_share(engine):
    context = _context(notional=10_000, cash=100_000, reserved={"BTC": 45_000})
    verdict = engine.evaluate(context)
    assert verdict.allowed and verdict.notional_usd == pytest.approx(5_000)
    assert verdict.fired[0].effect == "resize"
    # reservations for another asset do not count
    other = engine.evaluate(_context(notional=10_000, cash=100_000, reserved={"ETH": 45_000}))
    assert other.notional_usd == 10_000
    # fully reserved: denied
    full = engine.evaluate(_context(notional=10_000, cash=100_000, reserved={"BTC": 50_000}))
    assert not full.allowed and full.fired[0].rule == "max_position_share"


def test_a_trade_below_min_notional_is_denied(engine):
    verdict = engine.evaluate(_context(notional=0.5))
    assert not verdict.allowed
    assert verdict.fired[0] == RuleFiring(
        rule="min_notional", effect="deny", reason="notional 0.50 < min 1.00"
    )


def test_every_rule_that_fired_is_listed_in_order(engine):
    # 0.5 of room left: resized to 0.5, then too small to be worth the fees.
    context = _context(notional=1_000, cash=50_000.5, holdings={"BTC": 499.995})
    verdict = engine.evaluate(context)
    assert not verdict.allowed
    assert verdict.notional_usd == pytest.approx(0.5)
    assert _rules_fired(verdict) == [
        ("max_position_share", "resize"),
        ("min_notional", "deny"),
        ("tiers", "tier"),
    ]
    assert all(f.reason for f in verdict.fired)


def test_every_deny_is_listed_not_just_the_first(engine):
    verdict = engine.evaluate(_context(notional=300_000, asset="DOGE", cash=10_000_000))
    assert _rules_fired(verdict) == [
        ("asset_allowlist", "deny"),
        ("max_notional", "deny"),
        ("tiers", "tier"),
    ]


def test_a_buy_with_zero_equity_is_denied_not_crashed(engine):
    verdict = engine.evaluate(_context(notional=10, cash=0.0))
    assert not verdict.allowed


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
    path = _write(tmp_path, TIERS_ONLY)
    verdict = PolicyEngine.load(path).evaluate(_context(notional=notional, cash=10_000_000))
    assert verdict.tier is tier
    assert verdict.allowed is (tier is not Tier.DENY)
    assert _rules_fired(verdict) == [("tiers", "tier")]
    if tier is Tier.DENY:
        assert "(hard cap)" in verdict.fired[-1].reason


def test_required_approvals_by_tier(engine):
    assert engine.tiers.required_approvals(Tier.QUORUM) == 2
    assert engine.tiers.required_approvals(Tier.HUMAN) == 1


TIERS_ONLY = """
version = "t"
[tiers]
auto_max_usd = 10000
human_max_usd = 100000
quorum_max_usd = 500000
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[rules.no_such_rule]\nx = 1\n", "unknown rule [rules.no_such_rule]; known: asset_allowlist"),
        ("[rules.max_notional]\nmax_usdd = 5\n", "rules.max_notional.max_usdd: unknown key"),
        ("[rules.max_notional]\nmax_usd = -5\n", "rules.max_notional.max_usd:"),
        ("[rules.max_position_share]\nmax_share = 2\n", "rules.max_position_share.max_share:"),
        ("surprise = true\n", "surprise: unknown key"),
    ],
)
def test_a_bad_policy_file_names_the_file_and_the_key(tmp_path, extra, expected):
    path = _write(tmp_path, TIERS_ONLY + extra)
    with pytest.raises(ConfigError) as info:
        PolicyEngine.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_tiers_out_of_order_are_a_config_error(tmp_path):
    path = _write(
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
    path = _write(tmp_path, 'version = "t"\n[tiers]\nauto_max_usd = 1\nhuman_max_usd = 2\n')
    with pytest.raises(ConfigError, match="tiers.quorum_max_usd: Field required"):
        PolicyEngine.load(path)


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path):
    path = _write(tmp_path, 'version = "t"\n[tiers\nauto_max_usd = 1\n')
    with pytest.raises(ConfigError) as info:
        PolicyEngine.load(path)
    assert str(info.value).startswith(f"{path}: not valid TOML")


def test_a_missing_policy_file_is_a_config_error(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="policy file not found") as info:
        PolicyEngine.load(path)
    assert str(path) in str(info.value)


ASSETS = st.sampled_from(("BTC", "ETH", "SOL", "DOGE", "PEPE"))
HOLDINGS = st.dictionaries(ASSETS, st.floats(min_value=0.0, max_value=5_000.0), max_size=4)


@settings(max_examples=2000, deadline=None)
@given(
    asset=ASSETS,
    sell=st.booleans(),
    notional=st.floats(min_value=0.01, max_value=1_000_000.0),
    cash=st.floats(min_value=1.0, max_value=2_000_000.0),
    holdings=HOLDINGS,
    price=st.floats(min_value=0.5, max_value=200.0),
    reserved=st.dictionaries(ASSETS, st.floats(min_value=0.0, max_value=1_000_000.0), max_size=3),
)
def test_allowed_verdicts_never_break_a_limit(
    engine, asset, sell, notional, cash, holdings, price, reserved
):
    context = _context(
        notional=notional,
        asset=asset,
        sell=sell,
        cash=cash,
        holdings=holdings,
        prices={a: price for a in holdings},
        reserved=reserved,
    )
    verdict = engine.evaluate(context)
    assert verdict.fired[-1].rule == "tiers"
    assert verdict.notional_usd <= notional
    if not verdict.allowed:
        assert verdict.tier is Tier.DENY
        return
    assert asset in ALLOWED
    assert verdict.notional_usd <= 250_000
    assert verdict.notional_usd >= 1
    assert verdict.tier.rank >= engine.tiers.tier_for(verdict.notional_usd).rank
    assert verdict.tier is not Tier.DENY
    if not sell:
        portfolio = context.portfolio
        exposure = portfolio.position_value(asset) + reserved.get(asset, 0.0) + verdict.notional_usd
        assert exposure <= 0.5 * portfolio.equity_usd + 1e-6


def test_a_proposal_sized_to_nothing_is_denied_even_without_a_min_notional_rule(tmp_path):
    """Regression: risk sized a buy to 0 (cash all reserved), the policy let it through as auto,
    and the zero-quantity fill crashed the next tick."""
    context = _context(notional=1_000)
    sized_to_zero = dataclasses.replace(
        context, assessment=context.assessment.model_copy(update={"sized_notional_usd": 0.0})
    )
    verdict = PolicyEngine.load(_write(tmp_path, TIERS_ONLY)).evaluate(sized_to_zero)
    assert not verdict.allowed and verdict.tier is Tier.DENY
    assert ("sizing", "deny") in _rules_fired(verdict)
