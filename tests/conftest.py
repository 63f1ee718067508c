"""Fixtures every suite may use: one real PostgreSQL cluster per session (see ``tests/pg.py``)
and a fresh, empty database on it per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import PostgresServer, PostgresUnavailableError, start_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL cluster. Fails (never skips) when PostgreSQL is missing: CI
    installs it, and a silent skip would hide half of the storage tests."""
    try:
        server = start_postgres()
    except PostgresUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL of an empty database of its own, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
