"""RemoteLR.step() in lease mode against torch's CosineAnnealingLR.step(), same optimizer, same
process: prints both and the ratio (goal: at most 1.2x).

Starts its own ``lrcast-server serve`` on a free port with a temp data directory unless
``LRCAST_URL`` (and ``LRCAST_TOKEN``, for the writes) point at one.

    python benchmarks/shim_step.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import timeit

import httpx
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from lrcast._client import Client
from lrcast.torch import RemoteLR

STEPS = 20_000
BLOCK = 4096
TOKEN = "benchmark-admin-token-0123456789"


def start_server(data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LRCAST_ADMIN_TOKEN": TOKEN, "LRCAST_DATA_DIR": data_dir}
    process = subprocess.Popen(
        [sys.executable, "-m", "lrcast_server.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the server did not start")


def per_step(scheduler: object, steps: int) -> float:
    """Microseconds a ``step()``, the best of five rounds."""
    step = scheduler.step  # type: ignore[attr-defined]
    return min(timeit.repeat(step, number=steps, repeat=5)) / steps * 1e6


def main() -> None:
    process = None
    url = os.environ.get("LRCAST_URL")
    token = os.environ.get("LRCAST_TOKEN", TOKEN)
    with tempfile.TemporaryDirectory() as data_dir:
        if url is None:
            process, url = start_server(data_dir)
        try:
            with Client(url=url, token=token) as client:
                client.publish(
                    "bench", {"curves": {"lr": {"type": "cosine", "start": 0.1, "steps": 10**7}}}
                )
                client.bind_run(f"bench-{time.time_ns()}", "bench", block=BLOCK)
                run = next(iter(client.iter_runs(schedule="bench"))).id
                opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
                cosine = CosineAnnealingLR(opt, T_max=10**7)
                opt.step()  # torch warns about a scheduler stepped before its optimizer
                torch_us = per_step(cosine, STEPS)
                ours_us = per_step(RemoteLR(opt, run, client=client), STEPS)
        finally:
            if process is not None:
                process.terminate()
                process.wait()
    print(f"torch CosineAnnealingLR.step(): {torch_us:8.2f} us")
    print(f"lrcast RemoteLR.step() (lease): {ours_us:8.2f} us")
    print(f"ratio (lrcast / torch): {ours_us / torch_us:.2f}x  (goal <= 1.2x)")


if __name__ == "__main__":
    main()
