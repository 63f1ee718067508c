"""What the benchmarks share: starting servers on loopback, driving them with wrk, reading a
process's CPU time and memory, medians, and a description of the machine.

Every server runs on 127.0.0.1 in its own process group, pinned to CPU 0 when the machine has
two or more CPUs (the load generator then gets CPU 1), and is stopped by its own process id.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADMIN = "benchmark-admin-token-0000"
HOST = "127.0.0.1"


@dataclass
class Result:
    """One load measurement."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    cpu_us: float = 0.0
    """Server CPU time per request: steadier than throughput on a busy machine."""


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _pinnable() -> bool:
    return hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1


def pin(pid: int, cpu: int) -> None:
    if _pinnable():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), else 0."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux), else NaN."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else float("nan")


def get_status(port: int, path: str, timeout: float = 1.0) -> int:
    """The status of one GET on loopback (raises OSError while nothing listens)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class Server:
    """A server process on a free loopback port, stopped on exit."""

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        health: str = "/",
        log: Path | None = None,
        port: int | None = None,
        wait: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.started = time.perf_counter()
        out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.command,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log is not None:
                out.close()  # type: ignore[union-attr]
        pin(self.process.pid, 0)
        if wait:
            self.wait_up(health)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_up(self, path: str, *, timeout: float = 60.0, poll: float = 0.01) -> float:
        """Seconds from the process start until ``path`` answers 2xx."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{' '.join(self.command)} exited with {self.process.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if 200 <= get_status(self.port, path) < 300:
                    return time.perf_counter() - self.started
            time.sleep(poll)
        self.stop()
        raise SystemExit(f"{self.url}{path} did not answer")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def uvicorn_command(app: str) -> list[str]:
    """An anchor app under uvicorn with the settings ``lrcast-server serve`` uses (one worker,
    default loop and HTTP implementation, warnings only, no access log)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE),
        app,
        "--host",
        HOST,
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def lrcast_command(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lrcast_server.cli",
        "serve",
        "--host",
        HOST,
        "--port",
        "{port}",
        "--log-level",
        "warning",
        *extra,
    ]


def lrcast_env(data_dir: str | Path) -> dict[str, str]:
    return {"LRCAST_DATA_DIR": str(data_dir), "LRCAST_ADMIN_TOKEN": ADMIN}


# -- load ------------------------------------------------------------------------------------


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if found is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    number, unit = found.groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(url: str, connections: int, duration: float, script: Path) -> Result:
    """One wrk measurement (one thread, ``connections`` connections, pinned to CPU 1)."""
    process = subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pin(process.pid, 1)
    out, _ = process.communicate(timeout=duration + 60)
    if "Requests/sec" not in out or "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")

    def field(pattern: str) -> str:
        found = re.search(pattern, out, re.MULTILINE)
        if found is None:
            raise SystemExit(f"unexpected wrk output:\n{out}")
        return found.group(1)

    return Result(
        float(field(r"Requests/sec:\s+([\d.]+)")),
        _ms(field(r"^\s*50%\s+(\S+)")),
        _ms(field(r"^\s*99%\s+(\S+)")),
        int(field(r"(\d+) requests in")),
    )


async def _python_load(port: int, paths: list[str], connections: int, duration: float) -> Result:
    latencies: list[float] = []
    end = time.perf_counter() + duration

    async def one(index: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        counter = index
        while time.perf_counter() < end:
            counter += 1
            path = paths[counter % len(paths)]
            began = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"content-length: (\d+)", head.lower())
            await reader.readexactly(int(found.group(1)) if found else 0)
            latencies.append(time.perf_counter() - began)
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return Result(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2] * 1e3,
        latencies[int(len(latencies) * 0.99)] * 1e3,
        len(latencies),
    )


async def _sweep(port: int, paths: list[str], connections: int) -> None:
    queue = list(reversed(paths))

    async def one() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        while queue:
            path = queue.pop()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 2"):
                raise SystemExit(f"GET {path}: {head.splitlines()[0].decode()}")
            found = re.search(rb"content-length: (\d+)", head.lower())
            await reader.readexactly(int(found.group(1)) if found else 0)
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))


def sweep(server: Server, paths: list[str], connections: int = 8) -> float:
    """GET every path once (``connections`` at a time); returns the seconds it took."""
    began = time.perf_counter()
    asyncio.run(_sweep(server.port, paths, connections))
    return time.perf_counter() - began


def measure(
    server: Server, connections: int, duration: float, script: Path, paths: list[str]
) -> Result:
    """Load ``server`` for ``duration`` seconds (wrk with ``script``, else a slower asyncio
    generator cycling through ``paths``), with the server's CPU time per request."""
    before = cpu_seconds(server.pid)
    if have_wrk():
        result = run_wrk(server.url, connections, duration, script)
    else:
        result = asyncio.run(_python_load(server.port, paths, connections, duration))
    used = cpu_seconds(server.pid) - before
    result.cpu_us = used / max(result.requests, 1) * 1e6
    return result


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lrcast-bench-") as directory:
        yield Path(directory)


# -- the machine -----------------------------------------------------------------------------


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _wrk_version() -> str:
    if not have_wrk():
        return "not installed (python asyncio load generator, slower than the servers)"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout + out.stderr).strip().splitlines()
    return first[0].split("[")[0].strip() if first else "wrk"


def machine() -> dict[str, str]:
    """What the figures were measured on (no host names, no paths)."""
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "FastAPI": _version("fastapi"),
        "uvicorn": _version("uvicorn"),
        "uvloop": _version("uvloop"),
        "httptools": _version("httptools"),
        "load generator": _wrk_version(),
        "load average at start (1/5/15 min)": load,
    }
