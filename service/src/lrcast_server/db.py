"""The database connection: engine set-up, transactions, migrations.

Everything dialect-specific lives here. On SQLite (the default) every connection runs in WAL mode
with a busy timeout and foreign keys on, and write transactions start with ``BEGIN IMMEDIATE`` so
that two processes never deadlock upgrading a read lock. On PostgreSQL, writes run under READ
COMMITTED and reads in one REPEATABLE READ snapshot; a write that loses a race (a serialization
failure, a deadlock, or an insert of a key another transaction has just inserted) runs again from
the start. Correctness never rests on any of that: the services' conditional single-row updates
serialise raises of the horizon and edits on any database (on PostgreSQL an UPDATE waits for the
row's lock and re-checks its WHERE on the newest row), with no lock held in any process.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from lrcast_server.errors import ServiceUnavailableError

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
"""libpq connection settings lrcast gives PostgreSQL connections unless the URL sets them."""
BUSY_RETRY_SECONDS = 2.0
"""How long a write that found the database busy or locked is tried again."""

# SQLSTATEs of a PostgreSQL transaction that lost a race and may simply run again.
PG_TRANSIENT = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
PG_UNIQUE_VIOLATION = "23505"
# Serialises migrations of replicas starting together (an arbitrary constant: "lrcast").
PG_MIGRATION_LOCK = 0x6C7263617374

HEAD_REVISION = "0003"
"""The newest migration in ``migrations/versions`` (a test keeps it equal to alembic's head):
a database already there is recognised without importing alembic."""


class LostRaceError(Exception):
    """Raised inside a transaction whose conditional update lost a race: run it again."""


def create_engine(url: str) -> Engine:
    """An engine for ``url``, with lrcast's connection settings for its dialect."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # A database that cannot be reached is an error within seconds (a 503), not a request
        # that hangs: unless the URL says otherwise, give up connecting after 5 s, and drop a
        # connection whose packets go unacknowledged for 10 s (a network partition).
        given = set(parsed.query)
        connect = {k: v for k, v in PG_CONNECT.items() if k not in given}
        # Per process: 2 replicas x 2 workers x 24 stay under PostgreSQL's default 100 connections.
        return sa.create_engine(
            url, pool_pre_ping=True, pool_size=8, max_overflow=16, connect_args=connect
        )
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # Enough connections for every worker thread (readers never block each other in WAL mode).
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=8,
        max_overflow=48,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (the driver's own
        # transaction handling would defer it and cannot say IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("lrcast_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database to WAL mode (a no-op once it is: the mode is kept in the file).

    Switching a new file needs it to itself; while another connection writes to it, SQLite
    answers "database is locked" at once rather than wait (waiting could deadlock), busy
    timeout or not. That happens when processes start together on a new database: retry
    until the busy timeout has passed."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class Database:
    """The engine plus the two kinds of transaction the services use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(create_engine(url))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot."""
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                # READ COMMITTED would take a new snapshot per statement: a run row and its
                # segments could then come from two different edits.
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write: committed on success, rolled back on any error."""
        with self.engine.connect().execution_options(lrcast_write=True) as conn, conn.begin():
            yield conn

    def transact(self, work: Callable[[Connection], T], *, attempts: int = 50) -> T:
        """Run ``work`` in a write transaction, again from the start if it lost a race. A
        database busy or locked is tried again for :data:`BUSY_RETRY_SECONDS` at most: past
        that (SQLite waits its busy timeout first) the error stands, a 503."""
        began = time.monotonic()
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    return work(conn)
            except LostRaceError:
                continue
            except IntegrityError as exc:
                # Under READ COMMITTED two writers can both find a key missing and insert it:
                # the second fails, and on its next try reads what the first wrote.
                if attempt + 1 < attempts and _sqlstate(exc) == PG_UNIQUE_VIOLATION:
                    continue
                raise
            except OperationalError as exc:
                patient = time.monotonic() - began < BUSY_RETRY_SECONDS
                if attempt + 1 < attempts and _is_transient(exc) and patient:
                    continue
                raise
        raise ServiceUnavailableError("the database is too busy to finish this write; try again")

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlstate(exc: IntegrityError | OperationalError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _is_transient(exc: OperationalError) -> bool:
    if _sqlstate(exc) in PG_TRANSIENT:
        return True
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


def schema_revisions(conn: Connection) -> list[str]:
    """The migrations the database is at, read with plain SQLAlchemy (none when it is new)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return []
    return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def migrate(database: Database) -> None:
    """Create or upgrade the schema to the newest migration (when up to date: one read, and
    alembic is not imported)."""
    with database.read() as conn:
        if schema_revisions(conn) == [HEAD_REVISION]:
            return
    with database.write() as conn:
        if database.dialect == "postgresql":
            # Replicas starting together: one migrates, the others wait, then find it done.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        if schema_revisions(conn) != [HEAD_REVISION]:
            _upgrade(conn)


def _upgrade(conn: Connection) -> None:
    # Imported here: alembic and mako take about a tenth of the server's start to import, and
    # a database already at the head (every start but the first after an upgrade) needs neither.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("lrcast_server").joinpath("migrations"))
    )
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
