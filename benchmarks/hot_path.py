"""The hot path against its anchor: ``GET /v1/runs/{run}/lr?step=S`` on a real
``lrcast-server serve`` (one worker) versus a bare ASGI app returning a constant, both under
uvicorn on loopback, driven by the same load generator in the same run.

    python benchmarks/hot_path.py [--duration 5] [--connections 1,32,128]

Needs ``wrk`` (``apt-get install -y wrk``); without it a small asyncio generator is used, which
is slower than the servers and so understates both. On a machine with two or more CPUs the
servers run on CPU 0 and the load generator on CPU 1. Goal: at least 0.40x the bare ASGI
throughput with one worker, and p99 under 5 ms at 32 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

STEPS = 4096
ADMIN = "benchmark-admin-token-0000"
LUA = f"""
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/runs/bench/lr?step=" .. (counter % {STEPS}))
end
"""


async def bare_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """The anchor: the least an ASGI app can do per request."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"lr": 0.1}'})


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    cpu_us: float = 0.0
    """Server CPU time per request: steadier than throughput on a busy machine."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), else 0."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pin(process: subprocess.Popen[bytes], cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(process.pid, {cpu})


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start(command: list[str], env: dict[str, str], health: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pin(process, 0)
    wait_up(health, process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(url: str, connections: int, duration: float, script: Path) -> Result:
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
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(process.pid, {1})
    out, _ = process.communicate()
    if "Requests/sec" not in out or "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Result(rps, p50, p99, requests)


async def _python_load(host: str, port: int, connections: int, duration: float) -> Result:
    latencies: list[float] = []
    end = time.perf_counter() + duration

    async def one(index: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        counter = index
        while time.perf_counter() < end:
            counter += 1
            path = f"/v1/runs/bench/lr?step={counter % STEPS}"
            began = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
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


def run_python(url: str, connections: int, duration: float) -> Result:
    parsed = httpx.URL(url)
    return asyncio.run(_python_load(parsed.host, parsed.port or 80, connections, duration))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--connections", default="1,32,128", help="comma-separated")
    args = parser.parse_args()
    levels = [int(c) for c in args.connections.split(",")]
    wrk = shutil.which("wrk")
    here = Path(__file__).resolve().parent

    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "steps.lua"
        script.write_text(LUA)
        bare_port, lrcast_port = free_port(), free_port()
        bare = start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(here),
                "hot_path:bare_app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            {},
            f"http://127.0.0.1:{bare_port}/",
        )
        server = start(
            [
                sys.executable,
                "-m",
                "lrcast_server.cli",
                "serve",
                "--port",
                str(lrcast_port),
                "--log-level",
                "warning",
            ],
            {"LRCAST_DATA_DIR": directory, "LRCAST_ADMIN_TOKEN": ADMIN},
            f"http://127.0.0.1:{lrcast_port}/healthz",
        )
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{lrcast_port}",
                headers={"Authorization": f"Bearer {ADMIN}"},
            ) as client:
                client.put(
                    "/v1/schedules/bench",
                    json={
                        "curves": {
                            "lr": {
                                "type": "warmup",
                                "steps": 500,
                                "then": {"type": "cosine", "start": 0.4, "steps": 44500},
                            },
                            "weight_decay": {"type": "constant", "value": 5e-5},
                        }
                    },
                ).raise_for_status()
                client.put(
                    "/v1/runs/bench", json={"schedule": "bench", "groups": {"backbone": 0.1}}
                ).raise_for_status()
                for step in range(0, STEPS, 256):  # commit the blocks the load will ask for
                    client.get("/v1/runs/bench/lr", params={"step": step}).raise_for_status()
            print(f"load generator: {'wrk' if wrk else 'python asyncio (slower than wrk)'}")
            print(
                f"{'conns':>5}  {'bare rps':>9}  {'lrcast rps':>10}  {'ratio':>5}  "
                f"{'bare p50/p99 ms':>16}  {'lrcast p50/p99 ms':>18}  "
                "server CPU us/req: bare, lrcast (ratio)"
            )
            for connections in levels:
                results = []
                for port, process in ((bare_port, bare), (lrcast_port, server)):
                    url = f"http://127.0.0.1:{port}"
                    before = cpu_seconds(process.pid)
                    if wrk:
                        result = run_wrk(url, connections, args.duration, script)
                    else:
                        result = run_python(url, connections, args.duration)
                    used = cpu_seconds(process.pid) - before
                    result.cpu_us = used / max(result.requests, 1) * 1e6
                    results.append(result)
                b, s = results
                cpu_ratio = b.cpu_us / s.cpu_us if s.cpu_us else float("nan")
                print(
                    f"{connections:>5}  {b.rps:>9.0f}  {s.rps:>10.0f}  {s.rps / b.rps:>5.2f}  "
                    f"{b.p50_ms:>7.2f}/{b.p99_ms:<8.2f}  {s.p50_ms:>8.2f}/{s.p99_ms:<9.2f}  "
                    f"{b.cpu_us:>6.1f}, {s.cpu_us:.1f} ({cpu_ratio:.2f})"
                )
        finally:
            stop(server)
            stop(bare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
