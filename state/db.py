"""Where Quorum's state lives: the database URL and the engine every store shares.

SQLite (WAL) in the user's data directory by default; any SQLAlchemy URL works (PostgreSQL for
a cluster). This module must never put a password into a message: URLs are always masked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import SQLModel

import state.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from core.errors import ConfigError

DB_ENV = "QUORUM_DB"
"""Environment variable that overrides the default database URL."""

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def default_db_url() -> str:
    """``$QUORUM_DB`` if set, else a SQLite file ``quorum.db`` in the user's data directory."""
    override = os.environ.get(DB_ENV, "").strip()
    if override:
        return as_url(override)
    path = Path(platformdirs.user_data_dir("quorum")) / "quorum.db"
    return f"sqlite:///{path}"


def mask_url(url: str | URL) -> str:
    """The URL as text with any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return _PASSWORD_IN_URL.sub(r"\1***@", str(url))


def as_url(value: str) -> str:
    """A database URL; a plain file path (no ``scheme://``) means a SQLite file there."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def make_engine(url: str) -> Engine:
    """An engine on ``url`` (or a SQLite file path) with every table created.

    SQLite files get WAL and a busy timeout.
    """
    url = as_url(url)
    shown = mask_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise ConfigError(f"database URL {shown!r} is not a valid SQLAlchemy URL") from None
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        _create_parent_dir(parsed, shown)
    try:
        engine = create_engine(parsed)
    except (NoSuchModuleError, ImportError, ArgumentError):
        raise ConfigError(
            f"database URL {shown!r}: driver {parsed.drivername!r} is not installed or unknown"
        ) from None
    if is_sqlite:
        event.listen(engine, "connect", _set_sqlite_pragmas)
    try:
        SQLModel.metadata.create_all(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = type(getattr(exc, "orig", None) or exc).__name__
        raise ConfigError(f"database {shown!r} cannot be opened ({reason})") from None
    return engine


def _create_parent_dir(url: URL, shown: str) -> None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    try:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"database {shown!r}: cannot create its directory: {exc}") from None


def _set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
