"""Fixtures for the client tests: real ``lrcast-server serve`` processes on free ports, each
with its own temp data directory and admin token, always stopped at the end."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from lrcast._client import Client
from lrcast._config import Retry

ADMIN_TOKEN = "client-tests-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A real ``lrcast-server serve`` process (access log on, to count requests)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        log = self.data_dir / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        env = {
            **os.environ,
            "LRCAST_ADMIN_TOKEN": ADMIN_TOKEN,
            "LRCAST_DATA_DIR": str(self.data_dir),
        }
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "lrcast_server.cli", "serve"),
                    *("--port", str(self.port), "--access-log", "--log-level", "info"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start: {log.read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def requests(self, pattern: str) -> list[str]:
        """The access-log lines of requests whose ``METHOD path?query`` matches ``pattern``."""
        found = []
        for log in self.logs:
            for line in log.read_text(errors="replace").splitlines():
                match = re.search(r'"([A-Z]+ \S+) HTTP/[\d.]+"', line)
                if match and re.search(pattern, match[1]):
                    found.append(match[1])
        return found


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
