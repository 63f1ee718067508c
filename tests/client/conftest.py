"""Fixtures for the client tests: real ``lrcast-server serve`` processes on free ports, each
with its own temp data directory and admin token, always stopped at the end."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lrcast._client import Client
from lrcast._config import Retry
from tests.service.helpers import Server as ProcessServer
from tests.service.helpers import free_port

ADMIN_TOKEN = "client-tests-admin-token-0123456789"


@dataclass
class Server(ProcessServer):
    """A real ``lrcast-server serve`` process with this suite's admin token and the access log
    on (to count requests)."""

    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=lambda: {"LRCAST_ADMIN_TOKEN": ADMIN_TOKEN})
    args: tuple[str, ...] = ("--access-log", "--log-level", "info")


def start_server(data_dir: Path) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(data_dir)
    server.start()
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that do not stop it (each uses its own names)."""
    running = start_server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own, which it may stop and start again."""
    running = start_server(tmp_path / "data")
    yield running
    running.stop()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    """An admin client of the shared server, quick to give up (tests expect answers)."""
    with Client(url=server.url, token=ADMIN_TOKEN, retry=Retry(retries=1, backoff=0.05)) as c:
        yield c


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A schedule and run name of this test's own on the shared server."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return base[:60] + f"-{time.monotonic_ns() % 10**9}"
