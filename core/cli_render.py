"""What the CLI prints: progress lines and the end-of-run summary. Plain text, stable order."""

from __future__ import annotations

from collections import Counter

import typer

from core.models import PortfolioState, Stage

OUTCOME_ORDER = ("filled", "submitted", "approved", "awaiting_approval", "denied", "vetoed",
                 "rejected", "expired", "failed", "proposed")
STAGE_ORDER = [s.value for s in Stage]


def _counts(counts: dict[str, int], order) -> str:
    ordered = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order)
    return " · ".join(f"{k} {counts[k]}" for k in ordered) or "none"


HEARTBEAT_S = 30.0
"""A headless run prints progress at least this often, whatever its share of the ticks."""


def progress_due(done: int, total: int, seconds_since_last: float) -> bool:
    """Whether to print progress after ``done`` of ``total`` ticks: at every tenth of the run,
    at its end, and when the last line is ``HEARTBEAT_S`` old (a slow, paced run)."""
    every = max(1, total // 10)
    return done % every == 0 or done == total or seconds_since_last >= HEARTBEAT_S


def progress_line(done: int, total: int, portfolio: PortfolioState, state) -> str:
    outcomes = Counter(state.outcomes.values())
    return (
        f"tick {done}/{total}  equity {portfolio.equity_usd:,.2f}  "
        f"decisions {len(state.outcomes)} ({_counts(dict(outcomes), OUTCOME_ORDER)})"
    )


def print_summary(summary, *, stopped_early: bool) -> None:
    s = summary
    lines = [
        "",
        f"Quorum run {s.run_id}: {s.ticks} ticks on the {s.runtime} runtime"
        + ("  (stopped early)" if stopped_early else ""),
        f"  decisions by outcome  {_counts(s.decisions, OUTCOME_ORDER)}",
        f"  entries by stage      {_counts(s.stages, STAGE_ORDER)}",
        f"  equity                {s.equity_usd:,.2f}  (start {s.initial_equity_usd:,.2f})",
        (f"  PnL                   {s.pnl_usd:+,.2f}  ({s.return_pct:+.2f}%)  "
        f"realized {s.realized_pnl_usd:+,.2f}  fees {s.fees_usd:,.2f}"),
        (f"  max drawdown          {s.max_drawdown_pct:.2f}%   sharpe {s.sharpe:.2f}   "
        f"sortino {s.sortino:.2f}   CAGR {s.cagr_pct:+.2f}%"),
        (f"  trades                {len(s.market_trades)}   win rate "
        + (f"{s.win_rate_pct:.1f}%   profit factor {s.profit_factor:.2f}" if s.market_trades
           else "n/a   profit factor n/a")
        + f"   exposure {s.exposure_pct:.1f}%"
        + (f"   lending round trips {len(s.lending_trades)}" if s.lending_trades else "")),
        # A decision one rule denied may have fired others: decisions and firings apart.
        f"  governance            denied {s.decisions.get('denied', 0)}"
        + (" (rules fired: " + ", ".join(f"{r} {n}" for r, n in s.denied_by_rule.items()) + ")"
           if s.denied_by_rule else "")
        + f" · vetoed {s.vetoed} · escalated {s.escalated}"
        + f" · to people {s.to_people} (rejected or expired {s.rejected})",
        "  open positions        "
        + (", ".join(f"{a} {q:.6g}" for a, q in sorted(s.positions.items())) or "none"),
        *([f"  by strategy           {_books(s.by_strategy)}"] if len(s.by_strategy) > 1 else []),
        f"  closed trades         {s.closed_trades}",
        f"  elapsed               {s.elapsed_s:.1f}s",
        f"  decision log          {s.log_entries} entries  head={s.head_hash}",
    ]
    if s.decisions.get("awaiting_approval"):
        lines.append(
            "  awaiting approval     decide with `quorum approvals list` / "
            "`quorum approvals approve ID` while a run is going"
        )
    typer.echo("\n".join(lines))


def _books(books: dict[str, tuple[int, float]]) -> str:
    """Each strategy's round trips and PnL (open lots at the last mark), for runs of several."""
    return " · ".join(f"{name} {count} trade{'s' * (count != 1)} PnL {pnl:+,.2f}"
                      for name, (count, pnl) in books.items())


def one_line(text: str) -> str:
    """Free text someone typed (a reason, a name), safe to print on one line: a newline or other
    control character is shown escaped, so it cannot forge a line of the command's output."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def undecodable_argument(argv: list[str]) -> str | None:
    """The first argument that is not UTF-8 text (Python keeps such bytes as lone surrogates,
    which no database, log or terminal can take), as it can be shown."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return None
