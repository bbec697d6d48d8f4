"""Opening the database: default location, SQLite pragmas, and errors that name the URL."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest
from sqlalchemy import text

from core.errors import ConfigError
from state.db import default_db_url, make_engine, open_existing


def test_default_url_is_a_file_in_the_user_data_dir(monkeypatch):
    monkeypatch.delenv("QUORUM_DB", raising=False)
    expected = Path(platformdirs.user_data_dir("quorum")) / "quorum.db"
    assert default_db_url() == f"sqlite:///{expected}"


def test_env_overrides_the_default_url(monkeypatch):
    monkeypatch.setenv("QUORUM_DB", "postgresql://quorum@db.internal/quorum")
    assert default_db_url() == "postgresql://quorum@db.internal/quorum"


def test_sqlite_engine_creates_the_file_tables_and_pragmas(tmp_path):
    path = tmp_path / "q.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        pragmas = {
            name: conn.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
        tables = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
                     .scalars())
    engine.dispose()
    assert path.exists()
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 10000,
                       "foreign_keys": 1}
    assert {"decision_log", "approval_requests", "orders"} <= tables


def test_unparsable_url_is_named():
    with pytest.raises(ConfigError, match="database URL 'postgresql://u@h:abc/db' is not a valid"):
        make_engine("postgresql://u@h:abc/db")


def test_a_missing_folder_is_refused_and_nothing_is_created(tmp_path):
    """Regression: `--db sqlite:///typo/q.db` made the folder `typo/` and a fresh database."""
    path = tmp_path / "typo" / "deeper" / "q.db"
    with pytest.raises(ConfigError) as caught:
        make_engine(f"sqlite:///{path}")
    assert str(caught.value) == (f"database 'sqlite:///{path}': folder {path.parent} "
                                 "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_the_default_database_makes_the_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("QUORUM_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    engine = make_engine(default_db_url())
    engine.dispose()
    assert (tmp_path / "data" / "quorum" / "quorum.db").is_file()


def test_a_plain_path_is_a_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    engine = make_engine("sub/quorum.db")
    assert engine.url.get_backend_name() == "sqlite"
    assert (tmp_path / "sub" / "quorum.db").is_file()
    engine.dispose()


def test_unknown_driver_is_named_without_the_password():
    with pytest.raises(ConfigError) as caught:
        make_engine("nosuchdb://alice:hunter2@db.example/quorum")
    message = str(caught.value)
    assert "nosuchdb://alice:***@db.example/quorum" in message
    assert "hunter2" not in message and caught.value.__cause__ is None


def test_unopenable_sqlite_file_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=f"database 'sqlite:///{blocker}/q.db'"):
        make_engine(f"sqlite:///{blocker}/q.db")


# Regression: `quorum audit verify --db sqlite:////tmp/typo.db` created the file and said "OK 0
# entries"; commands that only read state open the database with open_existing.


@pytest.mark.parametrize("form", ["url", "plain path"])
def test_open_existing_refuses_a_missing_sqlite_file_and_creates_nothing(tmp_path, form):
    path = tmp_path / "typo" / "quorum.db"
    url = f"sqlite:///{path}" if form == "url" else str(path)
    with pytest.raises(ConfigError) as caught:
        open_existing(url)
    assert str(caught.value) == f"no Quorum database at {path}"
    assert not path.parent.exists()


def test_open_existing_refuses_a_sqlite_file_that_is_not_a_quorum_database(tmp_path):
    path = tmp_path / "other.db"
    path.write_bytes(b"")
    with pytest.raises(ConfigError, match=f"no Quorum database at {path} .*no decision_log"):
        open_existing(f"sqlite:///{path}")
    assert path.read_bytes() == b""


def test_open_existing_opens_a_database_made_by_make_engine(tmp_path):
    path = tmp_path / "q.db"
    make_engine(str(path)).dispose()
    engine = open_existing(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
        assert conn.execute(text("SELECT COUNT(*) FROM decision_log")).scalar() == 0
    engine.dispose()
