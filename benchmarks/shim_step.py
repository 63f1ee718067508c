"""``RemoteLR.step()`` in lease mode against torch's ``CosineAnnealingLR.step()``, same optimizer,
same process, rounds interleaved: prints the medians and the ratio (goal: at most 1.2x).

Starts its own ``lrcast-server serve`` on a free loopback port with a temp data directory
unless ``LRCAST_URL`` (and ``LRCAST_TOKEN``, for the writes) point at one. The run uses the
default block (256 steps); the scheduler is measured with one block per lease (the default: a
fetch, in the background, every 256 steps) and with 16 (every 4,096 steps). A round steps
microseconds apart, far faster than training, so with one block per lease the step often waits
for the next lease's round trip: the CPU time per step is shown too.

    python benchmarks/shim_step.py [--steps 20000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from lrcast._client import Client
from lrcast.torch import RemoteLR

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ADMIN, Server, lrcast_command, lrcast_env, median, scratch


@dataclass
class ShimResult:
    blocks: int
    """Blocks per lease (``RemoteLR(blocks=...)``; 1 is the default)."""
    torch_us: float
    lrcast_us: float
    ratio: float
    lrcast_cpu_us: float
    """CPU time of the process per ``RemoteLR.step()``, the background fetches included."""


def _round(step: object, steps: int, cpu: list[float] | None = None) -> float:
    began = time.process_time()
    wall = timeit.timeit(step, number=steps) / steps * 1e6  # type: ignore[arg-type]
    if cpu is not None:
        cpu.append((time.process_time() - began) / steps * 1e6)
    return wall


def measure(url: str, token: str, steps: int, repeats: int, blocks: int = 1) -> ShimResult:
    with Client(url=url, token=token) as client:
        client.publish(
            "bench-shim", {"curves": {"lr": {"type": "cosine", "start": 0.1, "steps": 10**7}}}
        )
        run = f"bench-shim-{time.time_ns()}"
        client.bind_run(run, "bench-shim")
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        opt.step()  # torch warns about a scheduler stepped before its optimizer
        cosine = CosineAnnealingLR(opt, T_max=10**7)
        remote = RemoteLR(opt, run, client=client, blocks=blocks)
        theirs: list[float] = []
        ours: list[float] = []
        cpu: list[float] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _round(cosine.step, steps // 10)
            _round(remote.step, steps // 10)
            for _ in range(repeats):
                theirs.append(_round(cosine.step, steps))
                ours.append(_round(remote.step, steps, cpu))
        remote.close()
    return ShimResult(
        blocks,
        median(theirs),
        median(ours),
        median([o / t for o, t in zip(ours, theirs, strict=True)]),
        median(cpu),
    )


def run(
    steps: int = 20_000, repeats: int = 7, blocks: tuple[int, ...] = (1, 16)
) -> list[ShimResult]:
    url = os.environ.get("LRCAST_URL")
    if url is not None:
        token = os.environ.get("LRCAST_TOKEN", ADMIN)
        return [measure(url, token, steps, repeats, b) for b in blocks]
    with (
        scratch() as directory,
        Server(lrcast_command(), env=lrcast_env(directory), health="/healthz") as server,
    ):
        return [measure(server.url, ADMIN, steps, repeats, b) for b in blocks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--steps", type=int, default=20_000, help="steps per round")
    parser.add_argument("--repeats", type=int, default=7, help="rounds (medians shown)")
    args = parser.parse_args()
    print(f"{'blocks/lease':>12}  {'torch us':>8}  {'lrcast us':>9}  {'ratio':>6}  lrcast CPU us")
    for r in run(args.steps, args.repeats):
        print(
            f"{r.blocks:>12}  {r.torch_us:>8.2f}  {r.lrcast_us:>9.2f}  {r.ratio:>5.2f}x  "
            f"{r.lrcast_cpu_us:.2f}"
        )
    print("goal: ratio <= 1.2x (medians of the rounds; wall time per step)")


if __name__ == "__main__":
    main()
