"""Fixtures for the dashboard tests: one real ``lrcast-server serve`` process on a free port with
its own temp data directory and admin token, seeded through the API; one headless Chromium
(Debian's ``chromium``, driven by Playwright) whose pages may reach that server and nothing else."""

from __future__ import annotations

import os
import shutil
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
import pytest

CHROMIUM = Path(os.environ.get("LRCAST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ADMIN_TOKEN = "lrc_dashboard-tests-admin-token"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

RESNET_V1: dict[str, Any] = {
    "description": "warmup, then cosine",
    "curves": {
        "lr": {
            "type": "warmup",
            "steps": 500,
            "then": {"type": "cosine", "start": 0.4, "end": 0.0, "steps": 9500},
        },
        "momentum": {"type": "constant", "value": 0.9},
        "weight_decay": {"type": "constant", "value": 5e-5},
    },
}
RESNET_V2: dict[str, Any] = {
    "description": "lower peak",
    "curves": {
        "lr": {
            "type": "warmup",
            "steps": 500,
            "then": {"type": "cosine", "start": 0.2, "end": 0.0, "steps": 9500},
        },
        "momentum": {"type": "constant", "value": 0.9},
        "weight_decay": {"type": "constant", "value": 5e-5},
    },
}
WSD: dict[str, Any] = {
    "description": "warmup, stable, decay",
    "curves": {
        "lr": {"type": "wsd", "peak": 0.003, "warmup": 200, "stable": 1400, "decay": 400},
    },
}
STEPS: dict[str, Any] = {
    "curves": {"lr": {"type": "multistep", "start": 0.1, "milestones": [3000, 6000, 8000]}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``lrcast-server serve``, and what was seeded into it."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    seeded: dict[str, Any] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )


def _start(data_dir: Path) -> Server:
    port = free_port()
    log = data_dir / "server.log"
    env = {
        **os.environ,
        "LRCAST_DATA_DIR": str(data_dir),
        "LRCAST_ADMIN_TOKEN": ADMIN_TOKEN,
        # Write the last step seen at once, so the runs list shows it without waiting.
        "LRCAST_SEEN_FLUSH_SECONDS": "0",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "lrcast_server.cli", "serve"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lrcast-server exited: {log.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    _stop(process)
    raise RuntimeError(f"lrcast-server did not start: {log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, response.text
    body: dict[str, Any] = response.json()
    return body


def seed(server: Server) -> None:
    """Three schedules (one with two versions) and three runs, one of which has been trained
    past an edit: its timeline has segments of v1, v2 and a scale change."""
    with server.client() as api:
        _ok(api.put("/v1/schedules/resnet50", json=RESNET_V1))
        _ok(api.put("/v1/schedules/wsd-small", json=WSD))
        _ok(api.put("/v1/schedules/steps", json=STEPS))
        _ok(
            api.put(
                "/v1/runs/resnet50-seed1",
                json={
                    "schedule": "resnet50",
                    "scale": 2.0,
                    "groups": {"backbone": 0.1, "head": 1.0},
                    "block": 256,
                },
            )
        )
        _ok(api.put("/v1/runs/resnet50-pinned", json={"schedule": "resnet50", "version": 1}))
        _ok(api.put("/v1/runs/wsd-run", json={"schedule": "wsd-small", "block": 128}))
        for step in (0, 300, 700, 1000):
            _ok(api.get("/v1/runs/resnet50-seed1/lr", params={"step": step}))
        published = _ok(api.put("/v1/schedules/resnet50", json=RESNET_V2))
        _ok(api.get("/v1/runs/resnet50-seed1/lr", params={"step": 1500}))
        patched = _ok(api.patch("/v1/runs/resnet50-seed1", json={"scale": 1.0, "at_step": 4000}))
        for step in range(0, 1000, 100):
            report = {"step": step, "name": "loss", "value": 2.0 / (1 + step / 250)}
            _ok(api.post("/v1/runs/resnet50-seed1/metrics", json=report))
        _ok(api.get("/v1/runs/wsd-run/lr", params={"step": 10}))
        _ok(api.get("/v1/runs/resnet50-pinned/lr", params={"step": 5}))
        server.seeded = {
            "switch": {r["run"]: r["effective_step"] for r in published["runs"]},
            "patch_step": patched["effective_step"],
            "seed1": _ok(api.get("/v1/runs/resnet50-seed1")),
        }


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real, seeded server, killed at the end of the session."""
    server = _start(tmp_path_factory.mktemp("lrcast-dashboard"))
    try:
        seed(server)
        yield server
    finally:
        _stop(server.process)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A browser page limited to the server, with every problem it reported."""

    page: Any
    base: str
    errors: list[str]
    blocked: list[str]

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def tab(browser: Any, server: Server) -> Iterator[Tab]:
    """A fresh tab (own sessionStorage); requests to anything but the server are aborted and
    recorded, console errors and page errors are recorded: a test ends with neither."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = Tab(page, server.url, [], [])

    def only_the_server(route: Any) -> None:
        url: str = route.request.url
        if url.startswith(server.url + "/") or url.startswith("data:"):
            route.continue_()
        else:
            tab.blocked.append(url)
            route.abort()

    page.route("**/*", only_the_server)
    page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    try:
        yield tab
    finally:
        context.close()
