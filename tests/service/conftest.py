"""Fixtures for the service tests: an app on its own fresh database per test (SQLite and
PostgreSQL), tokens, and a real ``lrcast-server serve`` process where the network matters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lrcast_server import Settings
from lrcast_server.auth import Role
from tests.service.helpers import Server, free_port, make_client, token


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A server on a fresh database of each backend: a temp SQLite file, or an empty
    PostgreSQL database (``tests/conftest.py``)."""
    if request.param == "postgresql":
        return Settings(data_dir=tmp_path, database_url=request.getfixturevalue("postgres_url"))
    return Settings(data_dir=tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client with no token, on a server bound to loopback (reads open)."""
    yield from make_client(settings)


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return token(client, Role.admin)


@pytest.fixture
def writer(client: TestClient) -> dict[str, str]:
    return token(client, Role.write)


@pytest.fixture
def reader(client: TestClient) -> dict[str, str]:
    return token(client, Role.read)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start real servers (``serve(workers=2)``); every one is stopped at the end."""
    servers: list[Server] = []

    def start(workers: int = 1, **env: str) -> Server:
        server = Server(tmp_path / "data", free_port(), workers, env)
        server.data_dir.mkdir(exist_ok=True)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
