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
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection

import lrcast
from lrcast._schemas import RunCreate
from lrcast_server import Settings, create_app, runs, schedules
from lrcast_server.auth import Principal, Role
from lrcast_server.core import Core
from lrcast_server.db import Database, migrate
from tests.pg import PostgresServer
from tests.service.helpers import COSINE, assert_problem, bind, publish, token
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


def test_a_database_that_cannot_answer_is_a_503_but_for_steps_held_in_memory(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    # Tokens read again at every request: the outage meets the token check too.
    settings = Settings(data_dir=tmp_path, database_url=postgres_url, token_cache_seconds=0)
    with TestClient(create_app(settings), base_url="http://lrcast.test") as client:
        admin = token(client, Role.admin)
        publish(client, admin, "s", COSINE)
        bind(client, admin, "r", schedule="s", block=16)
        assert client.get("/v1/runs/r/lr?step=0", headers=admin).status_code == 200
        # Every connection closed, and no new one let in: as when the database goes away.
        postgres_server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        postgres_server.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        try:
            # A committed step held in memory is answered on (the tokens known stay in use).
            assert client.get("/v1/runs/r/lr?step=1", headers=admin).status_code == 200
            asked = [
                client.get("/v1/runs/r/lr?step=5000", headers=admin),
                client.get("/v1/runs/r/lease?step=320", headers=admin),
                client.get("/v1/schedules", headers=admin),
                client.put("/v1/schedules/t", json=COSINE, headers=admin),
                client.get("/readyz"),
            ]
            for response in asked:
                problem = assert_problem(response, 503)
                assert response.headers["retry-after"] == "1"
                assert problem["title"] == "Service unavailable"
        finally:
            postgres_server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        response = client.get("/v1/runs/r/lr?step=5000", headers=admin)
        assert response.status_code == 200, response.text
        assert client.get("/v1/schedules/t", headers=admin).status_code == 404  # nothing written


def test_a_read_only_database_answers_reads_and_refuses_writes_with_a_503(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    settings = Settings(data_dir=tmp_path, database_url=postgres_url)
    with TestClient(create_app(settings), base_url="http://lrcast.test") as client:
        admin = token(client, Role.admin)
        publish(client, admin, "s", COSINE)
        # As a standby promoted away from, or a database put in read-only mode.
        postgres_server.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        postgres_server.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        try:
            assert client.get("/v1/schedules/s", headers=admin).status_code == 200
            refused = client.put("/v1/schedules/t", json=COSINE, headers=admin)
            assert assert_problem(refused, 503)["title"] == "Service unavailable"
        finally:
            postgres_server.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
