"""`quorum policy check` and `quorum policy replay` as a person runs them: a real process, a real
database left by a real run."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from core.models import (
    CASH,
    PolicyVerdict,
    Proposal,
    RiskAssessment,
    RuleFiring,
    Stage,
    Swap,
    Tier,
)
from policies.engine import DEFAULT_POLICY, PolicyEngine
from policies.replay import realised_pnl, replay
from state.db import make_engine
from state.decision_log import DecisionLog
from tests.policies.support import BASE, SHIPPED_RULES, run_system, write

QUORUM = [sys.executable, "-m", "core.cli"]


def quorum(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*QUORUM, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_check_prints_the_effective_tiers_and_every_rule_in_order():
    result = quorum("policy", "check", str(DEFAULT_POLICY))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"policy {PolicyEngine.load().version} ({DEFAULT_POLICY})"
    assert lines[1] == "live trading disabled"
    assert "  auto    <=      10,000.00  no person" in lines
    assert "  quorum  <=     500,000.00  2 approvers" in lines
    assert "  deny    >      500,000.00  hard cap" in lines
    rule_lines = [line.split()[0] for line in lines[lines.index("rules, in the order they run:") + 1:-1]]
    assert rule_lines == SHIPPED_RULES
    assert "  max_volatile_share   max_share=0.4 stable_assets=[USDC, USDT, DAI, BUSD, TUSD, FDUSD, AUSDC]" in lines
    assert "  stoploss_guard       trade_limit=4 lookback_s=21600 lock_s=7200 min_loss_share=0 per_asset=false" in lines
    assert lines[-1] == "history the rules look back over: 86400s"


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ("[rules.stoploss_guard]\ntrade_limit = 0\nlookback_s = 60\nlock_s = 60\n",
         "rules.stoploss_guard.trade_limit: Input should be greater than or equal to 1"),
        ("[rules.max_slipage]\nmax_bps = 5\n", "unknown rule [rules.max_slipage]; known: "),
        ("[rules.loss_cooldown]\ncooldown_s = 60\nper_assett = true\n",
         "rules.loss_cooldown.per_assett: unknown key"),
    ],
)
def test_check_exits_1_with_one_line_naming_the_file_and_the_key(tmp_path, rules, named):
    path = write(tmp_path, 'version = "bad"\n[tiers]\nauto_max_usd = 1\nhuman_max_usd = 2\n'
                           "quorum_max_usd = 3\n" + rules)
    result = quorum("policy", "check", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: ")
    assert named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_names_a_missing_file(tmp_path):
    result = quorum("policy", "check", str(tmp_path / "nope.toml"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.toml'}: policy file not found"


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    """A database left by a 300-bar run under a permissive policy."""
    tmp = tmp_path_factory.mktemp("run")
    url = f"sqlite:///{tmp / 'quorum.db'}"
    governor, engine, runtime = run_system(tmp, url)
    for tick in range(300):
        governor.step(tick)
    closed = runtime.call("treasury", "closed_trades")
    return url, DecisionLog(engine).entries(), closed, tmp


def test_replay_under_the_same_policy_flips_nothing(logged_run):
    url, entries, _, tmp = logged_run
    same = write(tmp, BASE.format(auto_max=100_000), name="same.toml")
    result = quorum("policy", "replay", "--policy", str(same), "--db", url)
    assert result.returncode == 0, result.stderr
    decisions = sum(1 for e in entries if e.stage in ("PolicyAllowed", "PolicyDenied"))
    assert result.stdout.splitlines()[0].startswith(f"{decisions} policy decisions in ")
    assert result.stdout.splitlines()[-1] == (
        "0 would flip (0 allowed -> denied, 0 denied -> allowed), 0 would change tier only, "
        "0 undetermined (the log lacks context)")


def test_replay_lists_the_decisions_a_stricter_policy_would_flip_with_their_realised_pnl(logged_run):
    url, entries, closed, tmp = logged_run
    smallest_entry = min(e.payload["notional_usd"] for e in entries if e.stage == "OrderSubmitted"
                         and e.payload["side"] == "buy")
    strict = write(tmp, BASE.format(auto_max=100_000)
                   + f"[rules.max_notional]\nmax_usd = {smallest_entry - 1}\n", name="strict.toml")
    result = quorum("policy", "replay", "--policy", str(strict), "--db", url)
    assert result.returncode == 0, result.stderr
    flips = [line for line in result.stdout.splitlines() if line.startswith("FLIP")]
    assert flips
    assert all("allowed (auto) -> denied (max_notional: notional " in line for line in flips)
    assert all(" realised PnL " in line for line in flips)
    buys_filled = {e.decision_id for e in entries if e.stage == "OrderFilled"
                   and e.payload["side"] == "buy"}
    assert {line.split()[1] for line in flips} >= buys_filled  # every entry would be denied
    # every round trip's PnL once, at its entry (it is on its exit too: summing both doubled it)
    summary = next(line for line in result.stdout.splitlines()
                   if line.startswith("realised PnL of the entries it would have denied: "))
    total = float(summary.split(": ")[1].split()[0].replace(",", ""))
    assert total == pytest.approx(sum(trade.pnl for trade in closed), abs=0.01)


def test_realised_pnl_per_decision_matches_the_treasurys_round_trips(logged_run):
    _, entries, closed, _ = logged_run
    pnl = realised_pnl(entries)
    sells = [e for e in entries if e.stage == Stage.ORDER_FILLED.value and e.payload["side"] == "sell"]
    assert len(sells) == len(closed) > 0
    for fill, trade in zip(sells, closed, strict=True):
        assert pnl[fill.payload["decision_id"]] == pytest.approx(trade.pnl, abs=1e-9)
    # each entry here is sold whole by one exit: its round trip earned what that exit booked
    buys = [e.payload["decision_id"] for e in entries
            if e.stage == Stage.ORDER_FILLED.value and e.payload["side"] == "buy"]
    assert sum(pnl[d] for d in buys if d in pnl) == pytest.approx(
        sum(pnl[s.payload["decision_id"]] for s in sells), abs=1e-6)


def test_replay_of_a_log_without_context_says_what_each_decision_lacks(tmp_path):
    """A log written before the governor logged the policy's context: the rules that need the
    portfolio or the history cannot judge, and replay says so instead of guessing."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    log = DecisionLog(make_engine(url))
    ts = datetime(2024, 1, 1, tzinfo=UTC)
    proposal = Proposal(decision_id="old-000001-0", tick=1, ts=ts, strategy="sma_cross",
                        action=Swap(sell=CASH, buy="BTC"), notional_usd=5_000,
                        rationale="cross", confidence=0.8)
    log.append(proposal.decision_id, Stage.PROPOSAL_CREATED.value, {
        "proposal": proposal, "snapshot": {"tick": 1, "ts": ts.isoformat(), "close": 100.0},
        "mood": 50.0})
    log.append(proposal.decision_id, Stage.RISK_ASSESSED.value, RiskAssessment(
        decision_id=proposal.decision_id, requested_notional_usd=5_000, sized_notional_usd=5_000,
        position_share_after=0.05, volatility_per_bar=0.01, var_95_usd=80.0,
        expected_slippage_bps=2.0))
    log.append(proposal.decision_id, Stage.POLICY_ALLOWED.value, PolicyVerdict(
        decision_id=proposal.decision_id, allowed=True, tier=Tier.AUTO, notional_usd=5_000,
        fired=(RuleFiring(rule="tiers", effect="tier", reason="auto"),), policy_version="old"))
    log.flush()
    results = replay(log.entries(), PolicyEngine.load())
    assert [r.determined for r in results] == [False]
    assert {f.rule for f in results[0].unjudged} == {
        "kill_switch", "stale_data", "max_drawdown", "daily_loss_limit", "stoploss_guard",
        "loss_cooldown", "max_trades_per_hour", "max_position_share", "max_volatile_share",
        "min_liquidity"}
    result = quorum("policy", "replay", "--policy", str(DEFAULT_POLICY), "--db", url)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("UNDETERMINED"))
    assert line.startswith("UNDETERMINED  old-000001-0  buy BTC 5,000.00  was allowed (auto); "
                           "the log lacks what rules need (kill_switch: the context lacks history; ")
    assert "max_position_share: the context lacks portfolio, reserved" in line
    assert "min_liquidity: the context lacks volume" in line
    assert result.stdout.splitlines()[-1].endswith("1 undetermined (the log lacks context)")
