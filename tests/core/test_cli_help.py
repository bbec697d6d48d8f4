"""`--help` of every command: it works, and says what its docstring says, brackets and all
(Rich markup used to eat `[approvals]`, `[run]` and `[default: …]` from the help texts)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from core.cli import app


def _paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(command, "commands"):  # a group (Typer parses with its own copy of Click)
        for name, sub in sorted(command.commands.items()):
            found += _paths(sub, (*path, name))
    return found


PATHS = _paths(typer.main.get_command(app))


def _help(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="quorum")
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_every_command_is_walked():
    assert {("run",), ("backtest",), ("kill-switch", "resume"), ("approvals", "list"),
            ("audit", "verify"), ("decisions", "show"), ("policy", "replay")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "quorum" for p in PATHS])
def test_every_help_works_and_names_its_command(path):
    shown = _help(*path)
    assert shown.startswith(f"Usage: quorum {' '.join(path)}".rstrip())
    assert "Traceback" not in shown


@pytest.mark.parametrize(("path", "text"), [
    (("kill-switch", "resume"), "only a person on the [approvals] cli allowlist may"),
    (("run",), "Default: the config's [run] mode, paper"),
    (("run",), "(default [data] bar_seconds)"),
    (("approvals", "list"), "Only requests with this status [default: pending]"),
])
def test_brackets_in_a_help_text_are_shown(path, text):
    assert text in _help(*path)
