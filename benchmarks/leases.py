"""Lease requests of a distributed job: N ranks (real processes, ``torch.distributed`` with the
gloo backend on loopback) each step a ``RemoteLR`` through the same run; the server's access log
counts the requests. Rank 0 fetches each block and broadcasts it, so the count is one lease per
block whatever N; every rank must also end with the same values, bit for bit.

    python benchmarks/leases.py [--ranks 1,2,4] [--steps 1900]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ADMIN, HOST, Server, free_port, lrcast_command, lrcast_env, scratch

BLOCK = 256
ACCESS = re.compile(r'"[A-Z]+ (\S+) HTTP/[\d.]+" \d{3}')
"""A line of uvicorn's access log: the path of the request."""
DOCUMENT = {"curves": {"lr": {"type": "cosine", "start": 0.1, "steps": 100_000}}}


@dataclass
class Count:
    ranks: int
    steps: int
    blocks: int
    leases: int
    other: int
    same_values: bool


def rank_main(rank: int, world: int, init: str, url: str, run: str, steps: int) -> None:
    """One rank: join the group, step the scheduler, print a digest of every lr it set."""
    import torch
    import torch.distributed as dist

    from lrcast.torch import RemoteLR

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    scheduler = RemoteLR(optimizer, run, url=url, token=ADMIN)
    digest = hashlib.sha256()
    for _ in range(steps - 1):
        optimizer.step()
        scheduler.step()
        digest.update(struct.pack("<d", optimizer.param_groups[0]["lr"]))
    dist.barrier()
    print(f"digest {digest.hexdigest()}", flush=True)
    scheduler.close()
    dist.destroy_process_group()


def job(url: str, run: str, ranks: int, steps: int) -> list[str]:
    init = f"tcp://{HOST}:{free_port()}"
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--rank",
                str(r),
                "--world",
                str(ranks),
                "--init",
                init,
                "--url",
                url,
                "--run",
                run,
                "--steps",
                str(steps),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for r in range(ranks)
    ]
    digests = []
    for process in processes:
        out, _ = process.communicate(timeout=300)
        if process.returncode != 0:
            raise SystemExit(f"a rank failed ({process.returncode})")
        digests += re.findall(r"digest (\w+)", out)
    return digests


def run(ranks: list[int], steps: int) -> list[Count]:
    counts = []
    with scratch() as directory:
        log = directory / "access.log"
        command = [*lrcast_command(), "--access-log"]
        command[command.index("warning")] = "info"
        with Server(command, env=lrcast_env(directory), health="/healthz", log=log) as server:
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}
            ) as client:
                client.put("/v1/schedules/leases", json=DOCUMENT).raise_for_status()
                for n in ranks:
                    client.put(
                        f"/v1/runs/leases-{n}", json={"schedule": "leases", "block": BLOCK}
                    ).raise_for_status()
            for n in ranks:
                digests = job(server.url, f"leases-{n}", n, steps)
                lines = log.read_text().splitlines()
                path = f"/v1/runs/leases-{n}/"
                asked = [m.group(1) for m in map(ACCESS.search, lines) if m and path in m.group(1)]
                leases = sum(p.startswith(f"{path}lease") for p in asked)
                other = len(asked) - leases
                counts.append(
                    Count(n, steps, -(-steps // BLOCK), leases, other, len(set(digests)) == 1)
                )
    return counts


def print_table(counts: list[Count]) -> None:
    print(
        f"{'ranks':>5}  {'steps':>6}  {'blocks':>6}  {'lease requests':>14}  "
        f"{'other requests':>14}  same values on every rank"
    )
    for c in counts:
        print(
            f"{c.ranks:>5}  {c.steps:>6}  {c.blocks:>6}  {c.leases:>14}  {c.other:>14}  "
            f"{'yes' if c.same_values else 'NO'}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--ranks", default="1,2,4", help="comma-separated")
    parser.add_argument("--steps", type=int, default=1900)
    parser.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--world", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--init", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank is not None:
        rank_main(args.rank, args.world, args.init, args.url, args.run, args.steps)
        return 0
    print_table(run([int(n) for n in args.ranks.split(",")], args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
