"""The hot path against its anchors: ``GET /v1/runs/{run}/lr?step=S`` on a real
``lrcast-server serve`` (one worker) versus a bare ASGI app returning a constant and a default
FastAPI route with a response model, all under uvicorn with the same settings on loopback,
driven by the same load generator, interleaved in the same run.

    python benchmarks/hot_path.py [--duration 3] [--repeats 3] [--connections 1,32,128]

Needs ``wrk`` (``apt-get install -y wrk``); without it a small asyncio generator is used, which
is slower than the servers and so understates all three. On a machine with two or more CPUs the
servers run on CPU 0 and the load generator on CPU 1. Goal: at least 0.40x the bare ASGI
throughput with one worker, and p99 at most 5 ms at 32 connections.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ADMIN,
    Result,
    Server,
    have_wrk,
    lrcast_command,
    lrcast_env,
    measure,
    median,
    scratch,
    uvicorn_command,
)

STEPS = 4096
APPS = ("bare", "fastapi", "lrcast")
LUA = f"""
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/runs/bench/lr?step=" .. (counter % {STEPS}))
end
"""
DOCUMENT = {
    "curves": {
        "lr": {
            "type": "warmup",
            "steps": 500,
            "then": {"type": "cosine", "start": 0.4, "steps": 44500},
        },
        "weight_decay": {"type": "constant", "value": 5e-5},
    }
}


@dataclass
class Level:
    """Every repetition at one number of connections, per app."""

    connections: int
    results: dict[str, list[Result]] = field(default_factory=lambda: {a: [] for a in APPS})

    def med(self, app: str, attribute: str) -> float:
        return median([getattr(r, attribute) for r in self.results[app]])

    def ratio(self, app: str, anchor: str) -> float:
        """Median over repetitions of the throughput ratio measured side by side."""
        pairs = zip(self.results[app], self.results[anchor], strict=True)
        return median([a.rps / b.rps for a, b in pairs if b.rps])


def seed_bench_run(url: str) -> None:
    """One schedule, one run, and the blocks the load will ask for already committed."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        client.put("/v1/schedules/bench", json=DOCUMENT).raise_for_status()
        client.put(
            "/v1/runs/bench", json={"schedule": "bench", "groups": {"backbone": 0.1}}
        ).raise_for_status()
        for step in range(0, STEPS, 256):
            client.get("/v1/runs/bench/lr", params={"step": step}).raise_for_status()


def run(duration: float, repeats: int, levels: list[int]) -> list[Level]:
    paths = [f"/v1/runs/bench/lr?step={s}" for s in range(STEPS)]
    out = [Level(c) for c in levels]
    with scratch() as directory:
        script = directory / "steps.lua"
        script.write_text(LUA)
        with (
            Server(uvicorn_command("anchors:bare_app")) as bare,
            Server(uvicorn_command("anchors:fastapi_app"), health="/healthz") as fast,
            Server(lrcast_command(), env=lrcast_env(directory), health="/healthz") as server,
        ):
            seed_bench_run(server.url)
            servers = {"bare": bare, "fastapi": fast, "lrcast": server}
            for s in servers.values():  # warm up every server (and its caches) once
                measure(s, 8, 1, script, paths)
            for _ in range(repeats):
                for level in out:
                    for app in APPS:
                        result = measure(servers[app], level.connections, duration, script, paths)
                        level.results[app].append(result)
    return out


def print_table(levels: list[Level]) -> None:
    print(f"load generator: {'wrk' if have_wrk() else 'python asyncio (slower than wrk)'}")
    print(
        f"{'conns':>5}  {'bare rps':>9}  {'fastapi rps':>11}  {'lrcast rps':>10}  "
        f"{'/bare':>5}  {'/fastapi':>8}  {'p50/p99 ms bare':>15}  {'fastapi':>11}  "
        f"{'lrcast':>11}  CPU us/req bare, fastapi, lrcast"
    )
    for level in levels:
        lat = {a: f"{level.med(a, 'p50_ms'):.2f}/{level.med(a, 'p99_ms'):.2f}" for a in APPS}
        cpu = ", ".join(f"{level.med(a, 'cpu_us'):.1f}" for a in APPS)
        print(
            f"{level.connections:>5}  {level.med('bare', 'rps'):>9.0f}  "
            f"{level.med('fastapi', 'rps'):>11.0f}  {level.med('lrcast', 'rps'):>10.0f}  "
            f"{level.ratio('lrcast', 'bare'):>5.2f}  {level.ratio('lrcast', 'fastapi'):>8.2f}  "
            f"{lat['bare']:>15}  {lat['fastapi']:>11}  {lat['lrcast']:>11}  {cpu}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (medians shown)")
    parser.add_argument("--connections", default="1,32,128", help="comma-separated")
    args = parser.parse_args()
    levels = [int(c) for c in args.connections.split(",")]
    print_table(run(args.duration, args.repeats, levels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
