"""What `quorum backtest` reports: the JSON payload of one run and the text tables of many.

Plain data in, plain text or dicts out; it runs nothing and writes no file.
"""

from __future__ import annotations

import math
from typing import Any

COLUMNS = (
    # (header, payload key, format)
    ("return %", "return_pct", "{:+.2f}"),
    ("CAGR %", "cagr_pct", "{:+.2f}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("max DD %", "max_drawdown_pct", "{:.2f}"),
    ("trades", "number_of_trades", "{:d}"),
    ("win %", "win_rate_pct", "{:.1f}"),
    ("PF", "profit_factor", "{:.2f}"),
    ("exposure %", "exposure_pct", "{:.1f}"),
    ("denied", "denied", "{:d}"),
    ("vetoed", "vetoed", "{:d}"),
    ("escalated", "escalated", "{:d}"),
    ("rejected", "rejected", "{:d}"),
    ("final equity", "final_equity", "{:,.2f}"),
)
"""The columns of the compare table, in order."""


def summary_payload(summary) -> dict[str, Any]:
    """A RunSummary as the documented `--json` report of one backtest."""
    return {
        "bars": summary.ticks,
        "trades": [t.to_dict() for t in summary.trades],
        "final_equity": summary.equity_usd,
        "return_pct": summary.return_pct,
        "max_drawdown_pct": summary.max_drawdown_pct,
        "sharpe": summary.sharpe,
        "sortino": summary.sortino,
        "cagr_pct": summary.cagr_pct,
        "win_rate_pct": summary.win_rate_pct,
        # JSON has no infinity: profits and no loss at all give null
        "profit_factor": summary.profit_factor if math.isfinite(summary.profit_factor) else None,
        "exposure_pct": summary.exposure_pct,
        "number_of_trades": len(summary.market_trades),
        "lending_round_trips": len(summary.lending_trades),
        "denied": summary.decisions.get("denied", 0),  # decisions; a rule count each below
        "denied_by_rule": summary.denied_by_rule,
        "vetoed": summary.vetoed,
        "escalated": summary.escalated,
        "to_people": summary.to_people,  # approval requests; rejected: refused or expired
        "rejected": summary.rejected,
        "elapsed_s": summary.elapsed_s,
    }


def cell(payload: dict[str, Any], key: str, fmt: str) -> str:
    """One figure of a run as the table shows it."""
    value = payload[key]
    if key in ("win_rate_pct", "profit_factor") and not payload["number_of_trades"]:
        return "n/a"
    if value is None:  # profit factor with profits and no loss
        return "inf"
    return fmt.format(value)


def table(labels: list[str], payloads: list[dict[str, Any]], *, first: str) -> list[str]:
    """Aligned rows: one per run, labelled, with every column of COLUMNS."""
    header = [first, *(name for name, _, _ in COLUMNS)]
    rows = [[label, *(cell(p, key, fmt) for _, key, fmt in COLUMNS)]
            for label, p in zip(labels, payloads, strict=True)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join([row[0].ljust(widths[0]),
                          *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    return [line(header), *(line(row) for row in rows)]


def counted(n: int, thing: str) -> str:
    """``1 fold``, ``3 folds``."""
    return f"{n} {thing}" + ("" if n == 1 else "s")


def params_text(params: dict[str, Any]) -> str:
    """``fast=5,slow=20,exits.stop_loss=0.05`` (or ``defaults`` when there is none); a list
    as ``tactical_assets=[BTC,ETH]``."""
    return ",".join(f"{k}={_text(v)}" for k, v in flat(params)) or "defaults"


def _text(value: Any) -> str:
    return f"[{','.join(map(str, value))}]" if isinstance(value, list | tuple) else str(value)


def flat(params: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every leaf: tables (``exits``) as ``exits.stop_loss``."""
    out: list[tuple[str, Any]] = []
    for key, value in params.items():
        if isinstance(value, dict):
            out += flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def metrics_only(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without its list of trades (for the many runs of a sweep)."""
    return {k: v for k, v in payload.items() if k != "trades"}


def sweep_lines(walk, market, *, source: str) -> list[str]:
    """The walk-forward report: each fold's windows and choice, the test table, the combined."""
    from core.backtest_sweep import METRICS

    key, _ = METRICS[walk.metric]
    lines = [(f"walk-forward sweep of {walk.strategy} on {source}: "
              f"{counted(len(walk.outcomes), 'fold')}, "
              f"{counted(len(walk.grid), 'parameter set')}"
              + (f" over {params_text(walk.fixed)}" if walk.fixed else "")
              + f", best by {walk.metric} on each train window")]
    for o in walk.outcomes:
        f = o.fold
        lines.append(
            f"  fold {f.number}: train bars {f.train_start}-{f.test_start - 1} "
            f"({_span(market, f.train_start, f.test_start)}), test bars "
            f"{f.test_start}-{f.test_stop - 1} ({_span(market, f.test_start, f.test_stop)}); "
            f"best {params_text(o.chosen.params)} ({walk.metric} {o.chosen.metric(key):.2f} "
            "on train)")
        if all(not r.payload.get("number_of_trades") for r in o.trained):
            lines.append(
                f"    warning: no parameter set traded on fold {f.number}'s "
                f"{f.test_start - f.train_start}-bar train window, so the choice means nothing "
                "(fewer --folds or more bars give windows longer than the strategy's warm-up)")
        elif not o.chosen.payload.get("number_of_trades"):
            lines.append(
                f"    warning: fold {f.number}'s best by {walk.metric}, "
                f"{params_text(o.chosen.params)}, made no trade on its train window (every set "
                "that traded scored worse); a set that does nothing wins on this metric")
        if f.test_stop - f.test_start <= o.warm_up:
            lines.append(
                f"    warning: fold {f.number}'s test window ({f.test_stop - f.test_start} bars) "
                f"is no longer than the warm-up of {params_text(o.chosen.params)} "
                f"({o.warm_up} bars), so it cannot trade on its indicators "
                "(fewer --folds or more bars)")
    lines += ["", ("out of sample (each fold's test window, with the parameters chosen on its "
              "train window):")]
    labels = [f"fold {o.fold.number} {params_text(o.tested.params)}" for o in walk.outcomes]
    lines += ["  " + row for row in table(labels, [o.tested.payload for o in walk.outcomes],
                                          first="fold, parameters")]
    c = walk.combined
    lines.append(
        f"  combined: {c['bars']} bars  return {c['return_pct']:+.2f}%  sharpe {c['sharpe']:.2f}  "
        f"sortino {c['sortino']:.2f}  max drawdown {c['max_drawdown_pct']:.2f}%  "
        f"trades {c['number_of_trades']}  final equity {c['final_equity']:,.2f}")
    return lines


def _span(market, start: int, stop: int) -> str:
    return f"{market.time(start):%Y-%m-%d %H:%M} → {market.time(stop - 1):%Y-%m-%d %H:%M}"
