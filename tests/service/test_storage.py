"""The database: migrations build exactly the tables the code describes, SQLite is set up for
several processes, and the serve command's schema step is idempotent."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lrcast_server import cli
from lrcast_server.db import HEAD_REVISION, Database, migrate
from lrcast_server.tables import metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "postgresql":
        return Database.from_url(request.getfixturevalue("postgres_url"))
    return Database.from_url(f"sqlite:///{tmp_path / 'nested' / 'lrcast.db'}")


def test_migrations_build_exactly_the_declared_schema(database: Database) -> None:
    migrate(database)
    with database.read() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    database.dispose()
    assert differences == []


def test_migrating_twice_changes_nothing(database: Database) -> None:
    migrate(database)
    migrate(database)
    with database.read() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    database.dispose()
    assert revision == HEAD_REVISION


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(database: Database) -> None:
    migrate(database)
    with database.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    database.dispose()


def test_a_new_sqlite_file_is_switched_to_wal_while_another_connection_writes_it(
    tmp_path: Path,
) -> None:
    # A writer holding a new file (not yet in WAL mode): SQLite refuses the switch at once,
    # without waiting out the busy timeout, as when processes start together on a new database.
    path = tmp_path / "lrcast.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    done = threading.Timer(0.3, writer.execute, ["COMMIT"])
    done.start()
    database = Database.from_url(f"sqlite:///{path}")
    try:
        with database.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]
    finally:
        done.join()
        writer.close()
        database.dispose()


def insert_then_fail(database: Database) -> None:
    with database.write() as conn:
        conn.execute(
            sa.text("INSERT INTO schedules VALUES ('s', 1, '2025-01-01', '2025-01-01', FALSE)")
        )
        raise RuntimeError("after the insert")


def test_a_failed_write_is_rolled_back(database: Database) -> None:
    migrate(database)
    with pytest.raises(RuntimeError, match="after the insert"):
        insert_then_fail(database)
    with database.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM schedules")).scalar() == 0
    database.dispose()


def test_migrate_command_creates_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRCAST_DATA_DIR", str(tmp_path))  # the CLI sets it: undone after
    assert cli.main(["--data-dir", str(tmp_path / "d"), "migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli.main(["migrate", "--data-dir", str(tmp_path / "d")]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (tmp_path / "d" / "lrcast.db").exists()
