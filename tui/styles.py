"""Colours that carry meaning, always next to a word that says the same without colour."""

from __future__ import annotations

from rich.text import Text

OUTCOME_STYLES = {
    "filled": "bold green",
    "approved": "green",
    "denied": "bold red",
    "vetoed": "bold magenta",
    "rejected": "red",
    "expired": "dim red",
    "failed": "red",
    "cancelled": "dim",
    "pending": "bold yellow",
    "awaiting": "bold yellow",
}


def outcome_text(outcome: str) -> Text:
    """The outcome word, styled by what it means (readable as plain text too)."""
    key = outcome.split()[0].lower() if outcome else ""
    return Text(outcome, style=OUTCOME_STYLES.get(key, ""))
