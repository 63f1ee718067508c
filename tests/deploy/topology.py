"""The deployment's topology as plain processes: lrcast replicas on one PostgreSQL database, and
nginx in front of them with the project's own ``deploy/nginx.conf``, changed only by putting the
replicas' loopback addresses where the compose services' names are."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.service.helpers import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

ADMIN_TOKEN = "deploy-test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

UPSTREAM_SERVER = re.compile(r"^(\s*server\s+)([A-Za-z0-9._-]+):(\d+)", re.MULTILINE)
LISTEN = re.compile(r"^(\s*listen\s+)(\d+)\s*;", re.MULTILINE)


def upstreams(conf: str) -> list[tuple[str, int]]:
    """The ``host:port`` of every upstream server the config names, in order."""
    return [(m.group(2), int(m.group(3))) for m in UPSTREAM_SERVER.finditer(conf)]


def listen_ports(conf: str) -> list[int]:
    return [int(m.group(2)) for m in LISTEN.finditer(conf)]


def local_nginx_conf(conf: str, replicas: list[int], port: int) -> str:
    """``conf`` with its upstream servers at ``127.0.0.1:replicas[i]`` and listening on
    ``127.0.0.1:port``; nothing else changes."""
    names = upstreams(conf)
    if len(names) != len(replicas):
        raise ValueError(f"the config names {len(names)} upstreams, not {len(replicas)}")
    ports = iter(replicas)
    conf = UPSTREAM_SERVER.sub(lambda m: f"{m.group(1)}127.0.0.1:{next(ports)}", conf)
    return LISTEN.sub(lambda m: f"{m.group(1)}127.0.0.1:{port};", conf)


def start_replicas(data_dir: Path, database_url: str, count: int = 2) -> list[Server]:
    """``count`` ``lrcast-server serve`` processes on one database, started together (they
    migrate the same empty database at the same moment)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {"LRCAST_DATABASE_URL": database_url, "LRCAST_ADMIN_TOKEN": ADMIN_TOKEN}
    servers = [Server(data_dir, free_port(), 1, env) for _ in range(count)]
    errors: list[BaseException] = []

    def start(server: Server) -> None:
        try:
            server.start()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        stop_all(servers)
        raise errors[0]
    return servers


def stop_all(servers: list[Server]) -> None:
    for server in servers:
        server.stop()


@dataclass
class Nginx:
    """nginx as a plain process (``daemon off``), its pid file and logs in ``directory``."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "nginx.log"

    def start(self, conf: str, timeout: float = 15.0) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx is not installed (Debian: `apt-get install -y nginx`)")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "nginx.conf"
        path.write_text(conf)
        # Process-level settings only, on the command line: the config file stays as shipped.
        globals_ = f"daemon off; pid {self.directory / 'nginx.pid'};"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [binary, "-p", str(self.directory), "-c", str(path), "-g", globals_],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
