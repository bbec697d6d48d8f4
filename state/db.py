"""Where Quorum's state lives: the database URL and the engine every store shares.

SQLite (WAL) in the user's data directory by default; any SQLAlchemy URL works (PostgreSQL for
a cluster). This module must never put a password into a message: URLs are always masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import SQLModel

from core.errors import ConfigError
from state.tables import LogEntryRow  # also registers every table on SQLModel.metadata

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
    return f"sqlite:///{_data_dir() / 'quorum.db'}"


def _data_dir() -> Path:
    """The user's data directory for Quorum: the one folder a database is created in."""
    return Path(platformdirs.user_data_dir("quorum"))


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

    SQLite files get WAL and a busy timeout; a missing file is created, in a folder that exists
    (only the user's data directory, the default's, is created: a mistyped folder is an error).
    """
    parsed, shown = _parse(url)
    _create_parent_dir(parsed, shown)
    engine = _engine(parsed, shown)
    _use_sqlite_pragmas(engine)
    _create_tables(engine, shown)
    return engine


def open_existing(url: str) -> Engine:
    """An engine on a Quorum database that already exists; never creates a file or a folder.

    For commands that only read or decide on state: a mistyped path is an error naming it,
    not a new empty database.
    """
    parsed, shown = _parse(url)
    sqlite_file = _sqlite_file(parsed)
    where = str(sqlite_file) if sqlite_file is not None else shown
    if sqlite_file is not None and not sqlite_file.is_file():
        raise ConfigError(f"no Quorum database at {where}")
    engine = _engine(parsed, shown)
    try:  # looked at before the pragmas, which would turn someone else's file to WAL
        has_log = inspect(engine).has_table(LogEntryRow.__tablename__)
    except SQLAlchemyError as exc:
        raise ConfigError(f"database {shown!r} cannot be opened ({_reason(exc)})") from None
    finally:
        engine.dispose()
    if not has_log:
        raise ConfigError(f"no Quorum database at {where} (it has no decision_log table)")
    _use_sqlite_pragmas(engine)
    _create_tables(engine, shown)  # only tables added since the database was made
    return engine


@contextmanager
def dbapi_transaction(engine: Engine) -> Iterator[Any]:
    """A cursor in one transaction on a pooled connection, below SQLAlchemy's Connection (whose
    own cost per transaction was as large as a small insert's): committed if the block ends,
    rolled back on any error, the connection back to the pool either way. Errors arrive as the
    driver's own classes."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()


def _parse(url: str) -> tuple[URL, str]:
    url = as_url(url)
    shown = mask_url(url)
    try:
        return make_url(url), shown
    except (ArgumentError, ValueError, TypeError):
        raise ConfigError(f"database URL {shown!r} is not a valid SQLAlchemy URL") from None


def sqlite_path(url: str) -> Path | None:
    """The file a database URL (or plain path) names, if it is a SQLite file; else None."""
    return _sqlite_file(_parse(url)[0])


def _sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL; None for other backends, memory and ``file:`` URIs."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _engine(parsed: URL, shown: str) -> Engine:
    try:
        return create_engine(parsed)
    except (NoSuchModuleError, ImportError, ArgumentError):
        raise ConfigError(
            f"database URL {shown!r}: driver {parsed.drivername!r} is not installed or unknown"
        ) from None


def _use_sqlite_pragmas(engine: Engine) -> None:
    """Every new connection of a SQLite engine gets WAL, a busy timeout and foreign keys."""
    if engine.url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)


def _create_tables(engine: Engine, shown: str) -> None:
    try:
        SQLModel.metadata.create_all(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise ConfigError(f"database {shown!r} cannot be opened ({_reason(exc)})") from None


def _reason(exc: SQLAlchemyError) -> str:
    return type(getattr(exc, "orig", None) or exc).__name__


def _create_parent_dir(url: URL, shown: str) -> None:
    path = _sqlite_file(url)
    if path is None or path.parent.is_dir():
        return
    if path.parent.resolve() != _data_dir().resolve():
        raise ConfigError(f"database {shown!r}: folder {path.parent} does not exist")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"database {shown!r}: cannot create its directory: {exc}") from None


def _set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
