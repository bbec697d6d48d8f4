"""The size and market rules: allowlists, notional, position and volatile shares, slippage,
liquidity. Each test loads a policy with the rule under test and checks the verdict's words."""

from __future__ import annotations

import dataclasses

import pytest

from core.models import Deposit, RuleFiring, Tier, Withdraw
from policies.base import PORTFOLIO
from tests.policies.support import context, engine_with, fired

ALLOWLIST = '[rules.asset_allowlist]\nassets = ["BTC", "ETH", "USDC"]\n'
PROTOCOLS = '[rules.protocol_allowlist]\nprotocols = ["aave-v3"]\n'
NOTIONAL = "[rules.max_notional]\nmax_usd = 250000\n[rules.min_notional]\nmin_usd = 1\n"
POSITION = "[rules.max_position_share]\nmax_share = 0.5\n"
VOLATILE = "[rules.max_volatile_share]\nmax_share = 0.4\n"
SLIPPAGE = "[rules.max_slippage]\nmax_bps = 100\nhuman_above_bps = 50\n"
LIQUIDITY = "[rules.min_liquidity]\nmin_usd = 50000\nmax_volume_share = 0.1\n"


def test_an_asset_off_the_allowlist_is_denied_buy_or_sell(tmp_path):
    engine = engine_with(tmp_path, ALLOWLIST)
    buy = engine.evaluate(context(notional=5_000, asset="DOGE"))
    assert not buy.allowed and buy.tier is Tier.DENY
    assert buy.fired[0] == RuleFiring(rule="asset_allowlist", effect="deny",
                                      reason="DOGE is not on the allowlist")
    sell = engine.evaluate(context(notional=5_000, asset="DOGE", sell=True))
    assert fired(sell) == [("asset_allowlist", "deny"), ("tiers", "tier")]
    assert engine.evaluate(context(notional=5_000, asset="ETH")).allowed


def test_a_deposit_into_a_protocol_off_the_allowlist_is_denied(tmp_path):
    engine = engine_with(tmp_path, PROTOCOLS)
    denied = engine.evaluate(context(notional=5_000, action=Deposit(asset="USDC", protocol="yolo-fi")))
    assert not denied.allowed
    assert denied.fired[0] == RuleFiring(rule="protocol_allowlist", effect="deny",
                                         reason="protocol yolo-fi is not on the allowlist")
    assert engine.evaluate(context(notional=5_000, action=Deposit(asset="USDC",
                                                                  protocol="aave-v3"))).allowed


def test_a_withdrawal_from_any_protocol_is_allowed(tmp_path):
    engine = engine_with(tmp_path, PROTOCOLS)
    verdict = engine.evaluate(context(notional=5_000, action=Withdraw(asset="USDC",
                                                                      protocol="yolo-fi")))
    assert verdict.allowed and fired(verdict) == [("tiers", "tier")]


def test_a_trade_above_max_notional_is_denied_not_resized(tmp_path):
    verdict = engine_with(tmp_path, NOTIONAL).evaluate(context(notional=300_000, cash=10_000_000))
    assert not verdict.allowed and verdict.tier is Tier.DENY
    assert verdict.fired[0] == RuleFiring(
        rule="max_notional", effect="deny", reason="notional 300,000.00 > max 250,000.00 per trade"
    )
    assert fired(verdict) == [("max_notional", "deny"), ("tiers", "tier")]


def test_a_trade_below_min_notional_is_denied(tmp_path):
    verdict = engine_with(tmp_path, NOTIONAL).evaluate(context(notional=0.5))
    assert verdict.fired[0] == RuleFiring(rule="min_notional", effect="deny",
                                          reason="notional 0.50 < min 1.00")


def closing(ctx, quantity: float):
    """``ctx`` with its proposal selling ``quantity`` (the strategies' sells name one)."""
    return dataclasses.replace(ctx, proposal=ctx.proposal.model_copy(update={"quantity": quantity}))


def test_a_sale_of_all_that_is_left_of_a_position_passes_min_notional_however_small(tmp_path):
    # Regression: a liquidity resize left 0.0001 BTC (worth 0.5 at 5,000) that no exit could sell.
    engine = engine_with(tmp_path, NOTIONAL)
    dust = context(notional=0.5, sell=True, holdings={"BTC": 0.0001})
    assert engine.evaluate(closing(dust, 0.0001)).allowed
    assert not engine.evaluate(closing(dust, 0.00005)).allowed  # part of it: not worth its fee
    assert not engine.evaluate(dust).allowed  # no quantity named: not known to close it
    buy = context(notional=0.5, holdings={"BTC": 0.0001})
    assert not engine.evaluate(closing(buy, 0.0001)).allowed


def test_the_sale_of_all_of_a_strategys_own_lot_passes_min_notional_however_small(tmp_path):
    """Strategies run together each keep their own lot: one's dust remainder sits beside
    another's holding, and the asset's whole position is never what it sells."""
    engine = engine_with(tmp_path, NOTIONAL)
    beside = context(notional=0.5, sell=True, holdings={"BTC": 2.0})  # its 0.0001 and another's
    assert not engine.evaluate(closing(beside, 0.0001)).allowed  # its own lot unknown
    own = dataclasses.replace(beside, own_quantity=0.0001)
    assert engine.evaluate(closing(own, 0.0001)).allowed
    assert not engine.evaluate(closing(own, 0.00005)).allowed  # part of its lot
    nothing = dataclasses.replace(beside, own_quantity=0.0)  # no lot of its own: no exception
    assert not engine.evaluate(closing(nothing, 0.0001)).allowed


def test_a_dust_sale_resized_by_an_earlier_rule_or_judged_without_the_portfolio_is_denied(tmp_path):
    rule = engine_with(tmp_path, NOTIONAL).rules[-1]
    assert rule.id == "min_notional"
    dust = closing(context(notional=0.5, sell=True, holdings={"BTC": 0.0001}), 0.0001)
    assert rule.evaluate(dust, 0.5) is None
    assert rule.evaluate(dust, 0.25).effect == "deny"  # resized to half: the rest stays
    unknown = dataclasses.replace(dust, missing=frozenset({PORTFOLIO}))
    assert rule.evaluate(unknown, 0.5).effect == "deny"


def test_sell_remainder_false_denies_the_sale_of_a_remainder_too(tmp_path):
    engine = engine_with(tmp_path, NOTIONAL.replace("min_usd = 1\n", "min_usd = 1\nsell_remainder = false\n"))
    dust = closing(context(notional=0.5, sell=True, holdings={"BTC": 0.0001}), 0.0001)
    assert engine.evaluate(dust).fired[0] == RuleFiring(rule="min_notional", effect="deny",
                                                       reason="notional 0.50 < min 1.00")


def test_a_buy_beyond_max_position_share_is_resized_to_the_room_left(tmp_path):
    # 100k equity, 20k already in BTC: 50% leaves 30k of room for an 80k request.
    engine = engine_with(tmp_path, POSITION)
    verdict = engine.evaluate(context(notional=80_000, cash=80_000, holdings={"BTC": 200}))
    assert verdict.allowed
    assert verdict.notional_usd == pytest.approx(30_000)
    assert verdict.tier is Tier.HUMAN  # the tier is for the resized notional
    assert verdict.fired[0] == RuleFiring(
        rule="max_position_share", effect="resize",
        reason="resized to 30,000.00 to keep BTC within 50% of equity",
    )
    assert verdict.fired[-1].reason == "notional 30,000.00 <= human_max_usd 100,000: human"


def test_a_buy_of_an_asset_already_at_max_position_share_is_denied(tmp_path):
    verdict = engine_with(tmp_path, POSITION).evaluate(
        context(notional=1_000, cash=40_000, holdings={"BTC": 600}))
    assert verdict.fired[0] == RuleFiring(
        rule="max_position_share", effect="deny", reason="BTC already at 60.0% of equity (max 50%)"
    )


def test_position_and_volatile_shares_do_not_limit_sells(tmp_path):
    engine = engine_with(tmp_path, POSITION + VOLATILE)
    verdict = engine.evaluate(context(notional=60_000, sell=True, cash=40_000, holdings={"BTC": 600}))
    assert verdict.allowed and verdict.notional_usd == 60_000


def test_reserved_in_flight_buys_count_against_max_position_share(tmp_path):
    engine = engine_with(tmp_path, POSITION)
    verdict = engine.evaluate(context(notional=10_000, cash=100_000, reserved={"BTC": 45_000}))
    assert verdict.allowed and verdict.notional_usd == pytest.approx(5_000)
    other = engine.evaluate(context(notional=10_000, cash=100_000, reserved={"ETH": 45_000}))
    assert other.notional_usd == 10_000
    full = engine.evaluate(context(notional=10_000, cash=100_000, reserved={"BTC": 50_000}))
    assert not full.allowed and full.fired[0].rule == "max_position_share"


def test_a_buy_with_zero_equity_is_denied_not_crashed(tmp_path):
    assert not engine_with(tmp_path, POSITION + VOLATILE).evaluate(context(notional=10, cash=0.0)).allowed


def test_volatile_holdings_together_are_capped_with_reservations_counted(tmp_path):
    # equity 100k: 20k BTC held + 15k ETH reserved leaves 5k of the 40% for SOL.
    engine = engine_with(tmp_path, VOLATILE)
    ctx = context(notional=10_000, asset="SOL", cash=80_000, holdings={"BTC": 200},
                  reserved={"ETH": 15_000})
    verdict = engine.evaluate(ctx)
    assert verdict.allowed and verdict.notional_usd == pytest.approx(5_000)
    assert verdict.fired[0] == RuleFiring(
        rule="max_volatile_share", effect="resize",
        reason="resized to 5,000.00 to keep volatile assets within 40% of equity",
    )
    full = engine.evaluate(context(notional=1_000, asset="SOL", cash=60_000, holdings={"BTC": 400}))
    assert full.fired[0] == RuleFiring(
        rule="max_volatile_share", effect="deny",
        reason="volatile assets already at 40,000.00 (max 40% of equity, equity 100,000.00)",
    )


def test_stable_assets_neither_count_as_volatile_nor_are_capped(tmp_path):
    engine = engine_with(tmp_path, VOLATILE)
    # 50k in USDC is not volatile: 40k of room for BTC.
    ctx = context(notional=45_000, cash=50_000, holdings={"USDC": 500})
    assert engine.evaluate(ctx).notional_usd == pytest.approx(40_000)
    stable_buy = engine.evaluate(context(notional=90_000, asset="USDC", cash=100_000))
    assert stable_buy.allowed and stable_buy.notional_usd == 90_000


def test_slippage_beyond_the_limit_denies_an_entry_and_sends_an_exit_to_a_person(tmp_path):
    engine = engine_with(tmp_path, SLIPPAGE)
    verdict = engine.evaluate(context(notional=5_000, slippage_bps=150))
    assert verdict.fired[0] == RuleFiring(
        rule="max_slippage", effect="deny",
        reason="expected price 101.5 is 150.0 bps from the oracle 100 (max 100 bps)",
    )
    sell = engine.evaluate(context(notional=5_000, sell=True, holdings={"BTC": 100},
                                   slippage_bps=150))
    # An exit is not trapped by its slippage: a person decides whether to pay it.
    assert sell.allowed and sell.tier is Tier.HUMAN
    assert sell.fired[0].effect == "tier"
    assert "expected price 98.5 is 150.0 bps" in sell.fired[0].reason
    assert "an exit, so a person decides" in sell.fired[0].reason


def test_slippage_between_the_two_limits_needs_a_person(tmp_path):
    verdict = engine_with(tmp_path, SLIPPAGE).evaluate(context(notional=5_000, slippage_bps=80))
    assert verdict.allowed and verdict.tier is Tier.HUMAN
    assert verdict.fired[0] == RuleFiring(
        rule="max_slippage", effect="tier",
        reason="expected price 100.8 is 80.0 bps from the oracle 100 (> 50 bps: a person must agree)",
    )
    assert engine_with(tmp_path, SLIPPAGE).evaluate(context(notional=5_000, slippage_bps=50)).tier \
        is Tier.AUTO


def test_a_swap_with_no_oracle_price_is_denied(tmp_path):
    ctx = context(notional=5_000)
    no_bar = dataclasses.replace(ctx, snapshot=ctx.snapshot.model_copy(update={"bars": {}}))
    verdict = engine_with(tmp_path, SLIPPAGE + LIQUIDITY).evaluate(no_bar)
    assert [f.reason for f in verdict.fired[:2]] == [
        "no oracle price for BTC in the snapshot",
        "no bar for BTC in the snapshot to judge liquidity by",
    ]


def test_a_thin_market_is_denied_and_a_large_trade_resized_to_its_share(tmp_path):
    engine = engine_with(tmp_path, LIQUIDITY)
    thin = engine.evaluate(context(notional=1_000, volume=400))  # 400 x 100 = 40k traded
    assert thin.fired[0] == RuleFiring(rule="min_liquidity", effect="deny",
                                       reason="BTC traded 40,000.00 in the latest bar (min 50,000.00)")
    big = engine.evaluate(context(notional=20_000, volume=1_000))  # 100k traded: 10% is 10k
    assert big.allowed and big.notional_usd == pytest.approx(10_000)
    assert big.fired[0].reason == ("resized to 10,000.00, 10% of the 100,000.00 of BTC traded in "
                                   "the latest bar (volume × close)")


def test_a_bar_nothing_traded_in_fails_even_with_no_floor(tmp_path):
    engine = engine_with(tmp_path, "[rules.min_liquidity]\nmin_usd = 0\n")
    assert not engine.evaluate(context(notional=1_000, volume=0)).allowed
    assert engine.evaluate(context(notional=1_000, volume=1)).allowed
