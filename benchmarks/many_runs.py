"""The hot path with many runs: ``GET /v1/runs/{run}/lr?step=S`` spread over 1, 100 and 10,000
runs bound to 1,000 schedules, each run asking its own steps in order (as trainers do), against
the 1-run figure measured side by side. Reports throughput, latency and the server's memory.

    python benchmarks/many_runs.py [--runs 1,100,10000] [--schedules 1000] [--duration 3]

Seeding goes through the service layer in-process (``schedules.publish``, ``runs.bind`` and
``Core.commit``: the code the API runs, without HTTP), into one SQLite file that every server
then reads. Each run has its own scale, so no two runs share a computed block. The blocks asked
for are committed while seeding; the first pass of the load reads each run into memory.
Goal: at least 0.9x the 1-run throughput, and at most 200 MB of server memory at 10,000 runs.
Two more rows: the largest server asked about one run only, and a server answering the largest
count from Python records (``LRCAST_NATIVE_ANSWERS=false``: the fallback when the compiled
answer table is not built).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    Result,
    Server,
    lrcast_command,
    lrcast_env,
    measure,
    median,
    rss_mb,
    scratch,
    sweep,
)

STEPS = 1024
"""Steps each run asks for (4 blocks of 256), committed while seeding."""
CONNECTIONS = 32

LUA = """
local n = {runs}
local steps = {{}}
request = function()
  local r = math.random(0, n - 1)
  local s = steps[r] or (r * 37) % {steps}
  steps[r] = (s + 1) % {steps}
  return wrk.format("GET", "/v1/runs/r" .. r .. "/lr?step=" .. s)
end
"""


def seed(directory: Path, runs: int, schedules: int) -> float:
    """Publish ``schedules`` schedules and bind ``runs`` runs with their first blocks
    committed, in-process; returns the seconds it took."""
    import lrcast
    from lrcast._schemas import RunCreate
    from lrcast_server import runs as run_service
    from lrcast_server import schedules as schedule_service
    from lrcast_server.auth import Principal, Role
    from lrcast_server.core import Core
    from lrcast_server.db import Database, migrate
    from lrcast_server.settings import Settings

    began = time.perf_counter()
    settings = Settings(data_dir=directory)
    database = Database.from_url(settings.resolved_database_url)
    migrate(database)
    core = Core(settings, database)
    admin = Principal("benchmark", Role.admin)
    for i in range(schedules):
        document = lrcast.parse_document(
            {
                "curves": {
                    "lr": {
                        "type": "warmup",
                        "steps": 100 + i,
                        "then": {"type": "cosine", "start": 0.4, "steps": 40_000 + i},
                    },
                    "weight_decay": {"type": "constant", "value": 5e-5},
                }
            }
        )
        schedule_service.publish(core, f"s{i}", document, principal=admin, if_match=None)
    last_block = (STEPS - 1) // 256
    for i in range(runs):
        body = RunCreate(
            schedule=f"s{i % schedules}",
            scale=1.0 + i / runs,
            groups={"backbone": 0.1},
        )
        run_service.bind(core, f"r{i}", body, if_match=None)
        core.commit(f"r{i}", 0, last_block)
    core.close()
    return time.perf_counter() - began


@dataclass
class Config:
    runs: int
    """How many runs the load asks."""
    loaded: int = 0
    """How many runs the server holds in memory (0: as many as it is asked)."""
    native: bool = True
    """Whether the server answers from the compiled answer table (else Python records)."""
    results: list[Result] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def med(self, attribute: str) -> float:
        return median([getattr(r, attribute) for r in self.results])


def run(
    counts: list[int], schedules: int, duration: float, repeats: int
) -> tuple[list[Config], float]:
    """One server per count, each measured with its count of runs; then the largest server
    again, asked about its first run only: what holding many runs costs, apart from spreading
    the answers over them; then a server answering the largest count from Python records (the
    last config)."""
    configs = [Config(n) for n in counts]
    alone = Config(1, loaded=max(counts))
    records = Config(max(counts), native=False)
    with scratch() as directory:
        seconds = seed(directory, max(counts), schedules)
        servers: list[Server] = []
        try:
            for config in [*configs, records]:
                env = lrcast_env(directory)
                if not config.native:
                    env["LRCAST_NATIVE_ANSWERS"] = "false"
                servers.append(Server(lrcast_command(), env=env, health="/healthz"))
            scripts = []
            for config in configs:
                script = directory / f"runs-{config.runs}.lua"
                script.write_text(LUA.format(runs=config.runs, steps=STEPS))
                scripts.append(script)
            paths = {
                c.runs: [f"/v1/runs/r{i % c.runs}/lr?step={i % STEPS}" for i in range(c.runs * 2)]
                for c in configs
            }
            # Warm up: every run read into memory once, as after its first answer.
            for config, server in zip([*configs, records], servers, strict=True):
                first = [f"/v1/runs/r{i}/lr?step={i * 37 % STEPS}" for i in range(config.runs)]
                sweep(server, first)
            largest, python = servers[-2:]
            for _ in range(repeats):
                for config, server, script in zip(configs, servers[:-1], scripts, strict=True):
                    result = measure(server, CONNECTIONS, duration, script, paths[config.runs])
                    config.results.append(result)
                    config.rss.append(rss_mb(server.pid))
                result = measure(largest, CONNECTIONS, duration, scripts[0], paths[1])
                alone.results.append(result)
                alone.rss.append(rss_mb(largest.pid))
                result = measure(python, CONNECTIONS, duration, scripts[-1], paths[records.runs])
                records.results.append(result)
                records.rss.append(rss_mb(python.pid))
        finally:
            for server in servers:
                server.stop()
    return [*configs, alone, records], seconds


def label(config: Config) -> str:
    if config.loaded:
        return f"{config.runs:,} of {config.loaded:,}"
    if not config.native:
        return f"{config.runs:,}, records"
    return f"{config.runs:,}"


def ratio(config: Config, base: Config) -> float:
    pairs = zip(config.results, base.results, strict=True)
    return median([a.rps / b.rps for a, b in pairs if b.rps])


def print_table(configs: list[Config], seconds: float, schedules: int) -> None:
    print(f"seeded {configs[-1].runs} runs on {schedules} schedules in {seconds:.1f} s")
    print(
        f"{'runs':>15}  {'rps':>7}  {'x 1 run':>7}  {'p50/p99 ms':>11}  {'CPU us/req':>10}  RSS MB"
    )
    for config in configs:
        lat = f"{config.med('p50_ms'):.2f}/{config.med('p99_ms'):.2f}"
        print(
            f"{label(config):>15}  {config.med('rps'):>7.0f}  {ratio(config, configs[0]):>7.2f}  "
            f"{lat:>11}  {config.med('cpu_us'):>10.1f}  {max(config.rss):.0f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", default="1,100,10000", help="comma-separated")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    counts = [int(n) for n in args.runs.split(",")]
    schedules = min(args.schedules, max(counts))
    configs, seconds = run(counts, schedules, args.duration, args.repeats)
    print_table(configs, seconds, schedules)
    return 0


if __name__ == "__main__":
    sys.exit(main())
