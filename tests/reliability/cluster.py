"""Real ``lrcast-server serve`` processes to hurt: SIGKILL a whole server (master and workers)
and start it again on the same port and data, or pause one process (SIGSTOP/SIGCONT)."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.service.helpers import Server, free_port

ADMIN_TOKEN = "reliability-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (uvicorn's workers, under a master)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


@dataclass
class Cluster:
    """One database served by ``replicas`` server processes of ``workers`` workers each."""

    data_dir: Path
    replicas: int = 1
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)
    kills: int = 0
    pauses: int = 0

    def start(self) -> Cluster:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(self.replicas):
            env = {"LRCAST_ADMIN_TOKEN": ADMIN_TOKEN, **self.env}
            server = Server(self.data_dir, free_port(), self.workers, env)
            server.start()
            self.servers.append(server)
        return self

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def kill(self, index: int = 0) -> None:
        """SIGKILL server ``index``'s whole process group (its master and every worker), then
        start it again on the same port and data."""
        server = self.servers[index]
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        self.kills += 1
        server.start()

    def pause(self, index: int = 0, seconds: float = 1.5) -> None:
        """Stop one process of server ``index`` for ``seconds`` (a slow replica): a worker when
        it has several, else the server itself."""
        server = self.servers[index]
        assert server.process is not None
        pids = children(server.process.pid) if self.workers > 1 else []
        workers = [pid for pid in pids if _is_worker(pid)]
        pid = workers[0] if workers else server.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.pauses += 1

    def logs(self) -> str:
        """Everything every server process of the cluster wrote, restarts included."""
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.data_dir.glob("server-*.log"))
        )

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for url in self.urls:
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{url} is not ready"
                time.sleep(0.1)


def _is_worker(pid: int) -> bool:
    """uvicorn's workers are spawned Python processes; the resource tracker is not one."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"resource_tracker" not in cmdline
