"""A throwaway PostgreSQL server for tests: its own data directory, reachable only by a unix socket.

``initdb`` and ``postgres`` refuse to run as root, so under root the server runs as the
``postgres`` system user (``runuser``); otherwise as the current user. The cluster lives in a
fresh temporary directory owned by that user and listens on no TCP port at all, only on a socket
in that directory, so it never collides with another server on the machine. Durability is off
(``fsync=off``): the data is thrown away with the directory. This module never touches a
cluster it did not create.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_USER = "postgres"
"""The system user the server runs as when the tests run as root."""

INSTALL_HINT = (
    "install them with `apt-get install postgresql` on Debian/Ubuntu (.ci/run does this), "
    "or put a directory holding initdb, pg_ctl and postgres on PATH"
)
DRIVER_HINT = "install the PostgreSQL driver with `pip install -e '.[dev]'` (psycopg[binary])"


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here; the message says what to install or fix."""


DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"


def find_bin_dir(*, search_path: str | None = None,
                 debian_glob: str = DEBIAN_BIN_DIRS) -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``: PATH first, then Debian's.

    Debian's ``postgresql`` package does not put ``initdb`` on PATH; its newest version wins.
    """
    on_path = shutil.which("initdb", path=search_path)
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = [Path(d) for d in glob.glob(debian_glob)]
    candidates += sorted(debian, key=_major_version, reverse=True)
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise PostgresUnavailable(f"PostgreSQL server binaries (initdb) not found: {INSTALL_HINT}")


def _major_version(bin_dir: Path) -> int:
    name = bin_dir.parent.name
    return int(name) if name.isdigit() else 0


def require_driver() -> None:
    """Fail with how to install it if SQLAlchemy's ``postgresql+psycopg`` driver is missing."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable(f"psycopg is not installed: {DRIVER_HINT}") from None


class PostgresServer:
    """One running cluster; ``url(name)`` is a SQLAlchemy URL for a database in it."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root
        self._as_user = _run_as_prefix()

    def url(self, database: str = "postgres") -> str:
        """``postgresql+psycopg`` URL through the socket; trust auth, so no password."""
        return f"postgresql+psycopg://{self._role}@/{database}?host={self.socket_dir}"

    @property
    def _role(self) -> str:
        return SERVER_USER if self._as_user else pwd.getpwuid(os.geteuid()).pw_name

    def start(self) -> None:
        """initdb, then start and wait until it accepts connections (``pg_ctl -w``)."""
        self._run("initdb", "-D", str(self.data_dir), "-U", self._role, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
        options = (f"-c listen_addresses='' -k {self.socket_dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown); safe to call if it never started."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), user=self._role, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def server_log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_user, str(self.bin_dir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout}"
                f"\n{self.server_log()[-2000:]}"
            )


def _run_as_prefix() -> list[str]:
    """``runuser -u postgres --`` under root (the server refuses root), else nothing."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root needs a {SERVER_USER!r} system user to run the server; "
            "`apt-get install postgresql` creates it"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root needs `runuser` (util-linux) to drop to "
                                  f"the {SERVER_USER!r} user")
    return [runuser, "-u", SERVER_USER, "--"]


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A fresh cluster in a new temporary directory, stopped and deleted afterwards."""
    bin_dir = find_bin_dir()
    require_driver()
    root = Path(tempfile.mkdtemp(prefix="quorum-pg-"))
    try:
        server = PostgresServer(bin_dir, root)
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(root, user.pw_uid, user.pw_gid)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
