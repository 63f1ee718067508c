"""Cold start: seconds from launching ``lrcast-server serve`` to its first answered hot-path
request (``GET /v1/runs/{run}/lr?step=0`` on an existing database), against a bare ASGI app
and a small FastAPI app under uvicorn with the same settings; medians of several starts,
interleaved.

    python benchmarks/cold_start.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    Server,
    lrcast_command,
    lrcast_env,
    median,
    scratch,
    uvicorn_command,
)

APPS = {
    "bare ASGI (uvicorn)": (uvicorn_command("anchors:bare_app"), "/"),
    "FastAPI (uvicorn)": (uvicorn_command("anchors:fastapi_app"), "/v1/runs/bench/lr?step=0"),
    "lrcast-server serve": (lrcast_command(), "/v1/runs/bench/lr?step=0"),
}


@dataclass
class Starts:
    seconds: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in APPS})

    def med(self, name: str) -> float:
        return median(self.seconds[name])


def run(repeats: int = 5) -> Starts:
    starts = Starts()
    with scratch() as directory:
        with Server(lrcast_command(), env=lrcast_env(directory), health="/healthz") as server:
            from hot_path import seed_bench_run

            seed_bench_run(server.url)
        for _ in range(repeats):
            for name, (command, path) in APPS.items():
                env = lrcast_env(directory) if name.startswith("lrcast") else {}
                with Server(command, env=env, wait=False) as server:
                    starts.seconds[name].append(server.wait_up(path, poll=0.005))
    return starts


def print_table(starts: Starts) -> None:
    base = starts.med("bare ASGI (uvicorn)")
    print(f"{'server':<22}  {'first answer s':>14}  {'x bare':>6}")
    for name in APPS:
        print(f"{name:<22}  {starts.med(name):>14.2f}  {starts.med(name) / base:>6.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print_table(run(args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
