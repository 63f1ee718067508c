"""PostgreSQL specifics: replicas migrating together, writers racing under READ COMMITTED, the
retry of transactions the server aborts, and the horizon raise as one conditional UPDATE."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

import lrcast
from lrcast._schemas import RunCreate
from lrcast_server import runs, schedules
from lrcast_server.auth import Principal, Role
from lrcast_server.core import Core
from lrcast_server.db import Database, migrate
from tests.service.test_core import make_cores

EDITOR = Principal("editor", Role.write)


@pytest.fixture
def cores(tmp_path: Path, postgres_url: str) -> Iterator[list[Core]]:
    made = make_cores(tmp_path, 2, postgres_url)
    yield made
    for core in made:
        core.close()


def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    databases = [Database.from_url(postgres_url) for _ in range(4)]
    with ThreadPoolExecutor(len(databases)) as pool:
        list(pool.map(migrate, databases))
    with databases[0].read() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    for database in databases:
        database.dispose()
    assert revision is not None


def test_concurrent_publishes_each_get_a_version_of_their_own(cores: list[Core]) -> None:
    def publish(i: int) -> int:
        document = lrcast.parse_document({"curves": {"lr": {"type": "constant", "value": i}}})
        result, _, created = schedules.publish(
            cores[i % 2], "s", document, principal=EDITOR, if_match=None
        )
        assert created
        return result.version

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(publish, range(1, 17)))
    assert sorted(versions) == list(range(1, 17))


def test_concurrent_binds_of_one_run_create_it_once(cores: list[Core]) -> None:
    document = lrcast.parse_document({"curves": {"lr": {"type": "constant", "value": 0.1}}})
    schedules.publish(cores[0], "s", document, principal=EDITOR, if_match=None)

    def bind(i: int) -> bool:
        _, _, created = runs.bind(cores[i % 2], "r", RunCreate(schedule="s"), if_match=None)
        return created

    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(bind, range(8)))
    assert created.count(True) == 1


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_a_transaction_the_server_aborts_runs_again(postgres_url: str, sqlstate: str) -> None:
    database = Database.from_url(postgres_url)
    attempts: list[int] = []

    def work(conn: Connection) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            conn.exec_driver_sql(
                f"DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '{sqlstate}'; END $$"
            )
        return len(attempts)

    assert database.transact(work) == 2
    database.dispose()


def test_the_horizon_raise_is_one_conditional_single_row_update(cores: list[Core]) -> None:
    core = cores[0]
    document = lrcast.parse_document({"curves": {"lr": {"type": "constant", "value": 0.1}}})
    schedules.publish(core, "s", document, principal=EDITOR, if_match=None)
    runs.bind(core, "r", RunCreate(schedule="s", block=64), if_match=None)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    sa.event.listen(core.database.engine, "before_cursor_execute", record)
    try:
        runs.answer(core, "r", 10)
    finally:
        sa.event.remove(core.database.engine, "before_cursor_execute", record)
    writes = [s for s in statements if not s.startswith(("SELECT", "BEGIN"))]
    assert len(writes) == 1, writes
    assert writes[0].startswith("UPDATE runs SET horizon=")
    assert "runs.horizon <" in writes[0]
    assert "runs.timeline_rev =" in writes[0]
