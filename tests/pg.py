"""A throwaway PostgreSQL cluster for tests: ``initdb`` into a temp directory, ``pg_ctl start``
on a free loopback port, one fresh database per test, everything removed at the end.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user (the
Debian package creates it) and its commands run through ``runuser``. Durability is off (fsync,
synchronous commit): the cluster lives as long as the test session.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "install PostgreSQL (Debian: `apt-get install -y postgresql`) or set LRCAST_PG_BIN"


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL's server binaries are not installed, or the cluster would not start."""


def find_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (newest installed major version)."""
    candidates = [os.environ.get("LRCAST_PG_BIN", "")]
    candidates += sorted(glob.glob(PG_BIN_GLOB), key=_major, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PostgresUnavailableError(f"PostgreSQL's initdb/pg_ctl were not found: {INSTALL_HINT}")


def _major(path: str) -> int:
    version = Path(path).parent.name
    return int(version) if version.isdigit() else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    """A running cluster. ``url`` is its ``postgres`` database; :meth:`create_database` makes
    another, empty one."""

    directory: Path
    port: int
    bindir: Path
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, prefix: str = "test") -> str:
        """Create an empty database with a name used once, and return its SQLAlchemy URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, closing whatever still uses it."""
        name = url.rsplit("/", 1)[1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster's directory."""
        if (self.directory / "data" / "postmaster.pid").exists():
            _run(self.bindir / "pg_ctl", "-D", self.directory / "data", "-m", "fast", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(*, attempts: int = 3) -> PostgresServer:
    """Create and start a cluster on a free loopback port (another port if one is taken)."""
    bindir = find_bin()
    directory = Path(tempfile.mkdtemp(prefix="lrcast-pg-"))
    if os.geteuid() == 0:
        _chown_to_postgres(directory)
    data = directory / "data"
    _run(
        bindir / "initdb",
        "-D",
        data,
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-sync",
        "--no-instructions",
    )
    last_error = ""
    for _ in range(attempts):
        port = free_port()
        options = " ".join(
            [
                f"-p {port}",
                f"-k {directory}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=300",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        server = PostgresServer(directory, port, bindir)
        try:
            _run(bindir / "pg_ctl", "-D", data, "-l", server.log, "-w", "-o", options, "start")
        except PostgresUnavailableError as exc:
            last_error = f"{exc}\n{server.log.read_text() if server.log.exists() else ''}"
            continue
        return server
    shutil.rmtree(directory, ignore_errors=True)
    raise PostgresUnavailableError(f"PostgreSQL did not start: {last_error}")


def _chown_to_postgres(directory: Path) -> None:
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            f"running as root needs the 'postgres' user to own the cluster: {INSTALL_HINT}"
        ) from None
    os.chown(directory, user.pw_uid, user.pw_gid)


def _run(*command: str | Path) -> None:
    args = [str(part) for part in command]
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise PostgresUnavailableError(
            f"{' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}"
        )
