"""Who may decide approval requests: per-channel allowlists that name people.

Each channel establishes an identity its own way: the CLI takes ``--as`` (default: the OS user),
the TUI the OS user running it, Telegram the numeric user id that Telegram reports. This module
maps such an identity to a person named in config, or to nobody; the approval queue refuses
nobody. Names are people: ``alice`` on the CLI and ``alice`` on the TUI are one person, and the
Telegram table says whose id is whose, so one person counts once toward a quorum whichever
channels they use. This module never decides a request and never reads an identity itself.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from core.config_model import ConfigModel

MAX_NAME_CHARS = 64
"""Longest person name (and longest identity kept in a refusal record)."""


class Channel(StrEnum):
    """Where a decision comes from; each has its own allowlist."""

    CLI = "cli"
    TUI = "tui"
    TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class Approver:
    """An identity as a channel established it: ``Approver(Channel.CLI, "alice")``.

    For Telegram the identity is the numeric user id as text (``"123456789"``).
    """

    channel: Channel
    identity: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel", Channel(self.channel))
        if not isinstance(self.identity, str):
            raise TypeError(f"identity must be text, got {type(self.identity).__name__}")

    def __str__(self) -> str:
        return f"{shown_identity(self.identity)!r} via {self.channel.value}"


def shown_identity(identity: str) -> str:
    """The identity cut to a length safe to store, log and print."""
    if len(identity) <= MAX_NAME_CHARS:
        return identity
    return identity[:MAX_NAME_CHARS] + "…"


def os_user() -> str | None:
    """The OS user running this process, or None if the system cannot tell."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):
        return None
    return name if _name_problem(name) is None else None


def _os_user_only() -> tuple[str, ...]:
    name = os_user()
    return (name,) if name else ()


class ApprovalsConfig(ConfigModel):
    """``[approvals]``: who may approve or reject, per channel.

    Left out, ``cli`` and ``tui`` allow only the OS user running Quorum and ``telegram`` allows
    nobody. An empty list allows nobody on that channel.
    """

    cli: tuple[str, ...] = Field(
        default_factory=_os_user_only,
        description="People who may decide with `quorum approvals ... --as NAME`",
    )
    tui: tuple[str, ...] = Field(
        default_factory=_os_user_only,
        description="OS user names who may decide in the control panel",
    )
    telegram: dict[str, int] = Field(
        default_factory=dict,
        description="Person name = numeric Telegram user id (never an @username: those change "
        "hands)",
    )

    @field_validator("cli", "tui", mode="before")
    @classmethod
    def _a_list_of_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise PydanticCustomError(
                "approvers", "must be a list of names, like {example}",
                {"example": json.dumps([value])},
            )
        return value

    @field_validator("cli", "tui")
    @classmethod
    def _valid_unique_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            _check_name(name)
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise PydanticCustomError(
                "approvers", "must be unique; repeated: {repeated}",
                {"repeated": ", ".join(repeated)},
            )
        return names

    @field_validator("telegram", mode="before")
    @classmethod
    def _names_to_numeric_ids(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "approvers", "must be a table of name = numeric user id, like {example}",
                {"example": "{ alice = 123456789 }"},
            )
        ids = {name: _telegram_id(name, user_id) for name, user_id in value.items()}
        for name in ids:
            _check_name(name)
        shared = sorted({str(i) for i in ids.values() if list(ids.values()).count(i) > 1})
        if shared:
            raise PydanticCustomError(
                "approvers", "one user id may belong to one person; repeated: {shared}",
                {"shared": ", ".join(shared)},
            )
        return ids

    def person(self, approver: Approver) -> str | None:
        """The person ``approver`` is on its channel, or None if that channel does not allow it."""
        if approver.channel is Channel.TELEGRAM:
            by_id = {str(user_id): name for name, user_id in self.telegram.items()}
            return by_id.get(approver.identity)
        names = self.cli if approver.channel is Channel.CLI else self.tui
        return approver.identity if approver.identity in names else None


def _check_name(name: str) -> None:
    problem = _name_problem(name)
    if problem:
        raise PydanticCustomError(
            "approvers", "{name} {problem}", {"name": repr(shown_identity(name)), "problem": problem}
        )


def _name_problem(name: str) -> str | None:
    if not name.strip():
        return "is empty; a name must have at least one visible character"
    if name != name.strip():
        return "has spaces at its ends"
    if len(name) > MAX_NAME_CHARS:
        return f"is longer than {MAX_NAME_CHARS} characters"
    if not name.isprintable():
        return "has control characters"
    if ":" in name:
        return "contains ':', which is kept for Quorum's own actors (quorum:expiry)"
    return None


def _telegram_id(name: object, user_id: object) -> int:
    if isinstance(user_id, str) and user_id.strip().isdigit():
        user_id = int(user_id)
    if isinstance(user_id, int) and not isinstance(user_id, bool) and user_id > 0:
        return user_id
    hint = (
        "a username, and usernames can be changed and taken by someone else"
        if isinstance(user_id, str) and user_id.lstrip().startswith("@")
        else "not a numeric Telegram user id"
    )
    raise PydanticCustomError(
        "approvers",
        "{name} = {user_id} is {hint}; give the person's numeric user id, like 123456789 "
        "(a refused attempt on the bot logs it)",
        {"name": name, "user_id": repr(user_id), "hint": hint},
    )
