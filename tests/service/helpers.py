"""Helpers shared by the service tests (fixtures live in conftest.py)."""

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
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lrcast_server import Settings, create_app
from lrcast_server.auth import Role, create_token
from lrcast_server.core import Core

COSINE = {
    "description": "cosine over 1000 steps",
    "curves": {
        "lr": {"type": "cosine", "start": 0.1, "end": 0.0, "steps": 1000},
        "weight_decay": {"type": "constant", "value": 5e-5},
    },
}
CONSTANT = {"curves": {"lr": {"type": "constant", "value": 0.5}}}


def core_of(client: TestClient) -> Core:
    app = client.app
    assert isinstance(app, FastAPI)
    core: Core = app.state.core
    return core


def token(client: TestClient, role: Role, name: str | None = None) -> dict[str, str]:
    """Headers carrying a fresh token of ``role``."""
    value = create_token(core_of(client).database, name or f"{role.name}-token", role)
    return {"Authorization": f"Bearer {value}"}


def publish(
    client: TestClient, headers: dict[str, str], name: str, document: dict[str, Any]
) -> httpx.Response:
    response = client.put(f"/v1/schedules/{name}", json=document, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response


def bind(client: TestClient, headers: dict[str, str], run: str, **body: Any) -> httpx.Response:
    response = client.put(f"/v1/runs/{run}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response


def assert_problem(response: httpx.Response, status: int, *paths: str) -> dict[str, Any]:
    """The response is a problem+json of ``status`` naming exactly ``paths`` (if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "errors"}
    assert problem["status"] == status
    assert problem["detail"]
    if paths:
        assert [e["path"] for e in problem["errors"]] == list(paths)
    return problem


def make_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, base_url="http://lrcast.test") as client:
        yield client


# -- real server processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``lrcast-server serve`` process."""

    data_dir: Path
    port: int
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("--log-level", "warning")
    """Further ``serve`` options (``--access-log``, ``--log-level info`` …)."""
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    logs: list[Path] = field(default_factory=list)
    """Every log this server wrote, one per start."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.log = self.data_dir / f"server-{self.port}-{time.monotonic_ns()}.log"
        self.logs.append(self.log)
        env = {**os.environ, **self.env, "LRCAST_DATA_DIR": str(self.data_dir)}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "lrcast_server.cli", "serve"),
                    *("--port", str(self.port), "--workers", str(self.workers)),
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

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
        """The access-log lines (``--access-log``) of requests whose ``METHOD path?query``
        matches ``pattern``."""
        found = []
        for log in self.logs:
            for line in log.read_text(errors="replace").splitlines():
                match = re.search(r'"([A-Z]+ \S+) HTTP/[\d.]+"', line)
                if match and re.search(pattern, match[1]):
                    found.append(match[1])
        return found
