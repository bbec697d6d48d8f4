"""`quorum policy check|replay`: validate a policy file, and test one against the decision log.

`check` never touches state. `replay` opens an existing database read-only in effect (it never
creates one, and never appends to the log): it only reads the entries and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from core.cli_state import DbOption
from core.errors import ConfigError
from core.models import Side
from policies.engine import PolicyEngine
from policies.replay import Replayed, replay
from state.db import default_db_url, mask_url, open_existing
from state.decision_log import DecisionLog

policy_app = typer.Typer(
    rich_markup_mode=None,  # help texts are plain: Rich read "[approvals]" as markup
    help="Check a policy file; replay logged decisions under another one.",
    no_args_is_help=True,
)



@policy_app.command("check")
def policy_check(
    file: Annotated[Path, typer.Argument(help="The policy TOML to validate")],
) -> None:
    """Validate a policy file and print its effective tiers and limits; exit 1 naming the file and key if it is bad."""
    engine = _load(file)
    for line in describe(engine):
        typer.echo(line)


@policy_app.command("replay")
def policy_replay(
    policy: Annotated[Path, typer.Option("--policy", help="The policy TOML to judge the logged decisions by")],
    db: DbOption = None,
    all_: Annotated[bool, typer.Option("--all", help="List every decision, not only the flips and the undetermined")] = False,
) -> None:
    """Judge every logged decision again under another policy: print which would flip, with realised PnL where known."""
    engine = _load(policy)
    url = db or default_db_url()
    entries = DecisionLog(open_existing(url)).entries()
    results = replay(entries, engine)
    typer.echo(f"{len(results)} policy decisions in {mask_url(url)} judged by {engine.version} "
               f"({policy})")
    for result in results:
        if all_ or result.flipped or not result.determined:
            typer.echo(decision_line(result))
    for line in summary(results):
        typer.echo(line)


def describe(engine: PolicyEngine) -> list[str]:
    """The policy as a person checks it: version, tiers, each rule's effective settings."""
    t = engine.tiers
    lines = [
        f"policy {engine.version} ({engine.path})",
        f"live trading {'ENABLED' if engine.policy.live_enabled else 'disabled'}",
        "tiers, by the notional of one trade after resizes:",
        f"  auto    <= {t.auto_max_usd:>14,.2f}  no person",
        f"  human   <= {t.human_max_usd:>14,.2f}  1 approver",
        f"  quorum  <= {t.quorum_max_usd:>14,.2f}  {t.quorum_required} approvers",
        f"  deny    >  {t.quorum_max_usd:>14,.2f}  hard cap",
        f"  requests expire after {t.approval_expiry_s:g}s",
        "rules, in the order they run:" if engine.rules else "rules: none",
    ]
    width = max((len(rule.id) for rule in engine.rules), default=0)
    for rule in engine.rules:
        settings = " ".join(f"{k}={_value(v)}" for k, v in rule.config.model_dump().items())
        lines.append(f"  {rule.id:<{width}}  {settings or '(no settings)'}")
    lines.append(f"history the rules look back over: {engine.lookback_s:g}s")
    return lines


def decision_line(result: Replayed) -> str:
    p, v = result.proposal, result.verdict
    kind = p.side.value if p.side else p.action.kind
    what = f"{result.decision_id}  {kind} {p.asset} {result.sized_notional_usd:,.2f}"
    was = _outcome(result.was_allowed, result.was_tier.value)
    if not result.determined:
        lacks = "; ".join(f"{f.rule}: {f.reason.removeprefix('cannot judge: ')}"
                          for f in result.unjudged)
        return f"UNDETERMINED  {what}  was {was}; the log lacks what rules need ({lacks})"
    tag = "FLIP" if result.flipped else "TIER" if result.tier_changed else "SAME"
    why = "; ".join(f"{f.rule}: {f.reason}" for f in v.fired if f.effect == "deny")
    line = f"{tag}  {what}  {was} -> {_outcome(v.allowed, v.tier.value)}"
    if why:
        line += f" ({why})"
    return f"{line}  realised PnL {_pnl(result)}"


def summary(results: list[Replayed]) -> list[str]:
    flips = [r for r in results if r.flipped]
    to_denied = [r for r in flips if r.was_allowed]
    undetermined = sum(1 for r in results if not r.determined)
    tiers = sum(1 for r in results if r.tier_changed and not r.flipped)
    # a round trip's PnL is on its entry and on its exit alike: summed once, at the entry
    entries = [r for r in to_denied if r.proposal.side is not Side.SELL]
    known = [r.realised_pnl_usd for r in entries if r.realised_pnl_usd is not None]
    lines = [(
        f"{len(flips)} would flip ({len(to_denied)} allowed -> denied, "
        f"{len(flips) - len(to_denied)} denied -> allowed), {tiers} would change tier only, "
        f"{undetermined} undetermined (the log lacks context)"
    )]
    if entries:
        lines.append(f"realised PnL of the entries it would have denied: {sum(known):,.2f} "
                     f"({len(known)} of {len(entries)} known)")
    if exits := len(to_denied) - len(entries):
        lines.append(f"{exits} exits it would have denied: not summed (an exit's PnL is its "
                     "round trip's, summed at the entry)")
    return lines


def _outcome(allowed: bool, tier: str) -> str:
    return f"allowed ({tier})" if allowed else "denied"


def _pnl(result: Replayed) -> str:
    if result.realised_pnl_usd is not None:
        return f"{result.realised_pnl_usd:+,.2f}"
    return "unknown (open or never filled)" if result.was_allowed else "none (it was not executed)"


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return "off" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _load(path: Path) -> PolicyEngine:
    """The engine, or one error line naming the file and key and exit 1."""
    try:
        return PolicyEngine.load(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
