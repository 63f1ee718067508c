"""Every benchmark, each against its anchor in the same run, written to ``docs/benchmarks.md``.

    python benchmarks/run_all.py [--quick] [--output docs/benchmarks.md]

Needs the dev install (``lrcast[torch]`` and ``lrcast-server``) and ``wrk`` (``apt-get install -y
wrk``). Takes about ten minutes on two cores; ``--quick`` runs the smallest configuration of
each (seconds, for a smoke test: its figures mean little).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cold_start
import evaluate
import hot_path
import leases
import many_runs
import shim_step
from _harness import machine

ROOT = Path(__file__).resolve().parent.parent


WHY_MANY_RUNS_COST = [
    "## Why many runs cost",
    "",
    "Per answer, the server reads what it holds of the asked run. With one run that stays in "
    "the CPU's caches; with thousands asked at random, each object read comes from main memory, "
    "about a microsecond per cache line on these machines under load. Holding many runs costs "
    "less: the 10,000-run server asked about one run answers at 0.95x to 0.99x of the 1-run "
    "server (the last row of the table; it moves between runs).",
    "",
    "Priced by replacing the per-step answer stage by stage on the 10,000-run server (server "
    "CPU per request with 10,000 runs asked at random, minus the same with one run): a "
    "constant answer costs nothing more; looking up the run's state and its horizon added "
    "about 1.5 µs, its label 1.5 µs, its block in the block cache 1.5 µs, and one value of each "
    "curve from the block's numpy arrays 6 µs: about 11 µs in all, a quarter of a request.",
    "",
    "So each run's current block is kept as an answer record: one bytearray holding the block's "
    "floats (a curve constant over the block once), the group multipliers and the run's last "
    "step seen, with the schedule and version it answers with. The per-step answer reads that "
    "record and nothing else of the run. Measured side by side with the code before records "
    "(two servers, alternating 2-second rounds): 10,000 runs 3-7% faster, one run about 4% "
    "slower, the ratio between them up from about 0.75x to 0.8x and more. What is left is the "
    "lookup by run name (the map's slot, its entry and the stored name), the record, and the "
    "cache line holding the step's row, and the Python work around them. Records are bounded "
    "by `LRCAST_ANSWER_CACHE_MB`; they hold only committed blocks, which no edit can change.",
    "",
    "Other layouts in Python, tried in throwaway harnesses (one 10,000-run server asked about "
    "one run, then about 10,000 at random; server CPU per request, median of 7 alternating "
    "rounds), did not beat the records: their bytes in one huge-page arena behind a dict of "
    "offsets saved about 1 µs, within the noise; a hash table probed in Python inside that "
    "arena, or immutable records in a list-based hash table with the steps seen in an array, "
    "were slower. In the server every extra bytecode costs several times what a "
    "micro-benchmark shows.",
    "",
    "Where the time went, from the server's user and system CPU time per request (8-second "
    "rounds of this load on a server holding 10,000 runs, Python records): with 10,000 runs "
    "at random it spent about 5.5 µs more user time and 3 µs more system time per request "
    "than with one, for the same system calls per request (counted with strace). The answer "
    "itself (finding the record, the JSON, noting the step) took only about 1 µs more, timed "
    "in the process around it, and writing the last steps seen about 1 µs (measured by "
    "putting the flush out of the way with `LRCAST_SEEN_FLUSH_SECONDS`). The rest was the "
    "rest of the request, uvicorn, the event loop and the kernel's loopback TCP, running "
    "slower after each answer's handful of reads from main memory: a server answering every "
    "request from one run's record, reading nothing of the others, stayed at 0.94x-0.98x. "
    "Transparent huge pages for the whole process (the kernel set to `always`, or glibc's "
    "malloc with `hugetlb`) did not change that beyond the noise.",
    "",
    "So the per-step answer reads the **answer table**, a small C extension "
    "(`lrcast_server/_answertable.c`): an open-addressing table of 256-byte slots, one per "
    "run, holding the run's name (inline up to 160 bytes), block, last step seen and first "
    "four head floats, with the block's rows in one allocation beside it. An answer hashes "
    "the name, reads the slot and the line holding its step's row, and renders the same "
    "JSON as before from those floats; no Python object of the run is touched. Side by side "
    "on this load (`many_runs.py --runs 1,10000 --repeats 5`, the same code with "
    "`LRCAST_NATIVE_ANSWERS=false` for the records): 10,000 runs at 0.88x-0.91x with the "
    "table against 0.80x-0.81x with the records (the table above has both), and 10,000 runs "
    "answered 11-17% faster in absolute terms. What remains over one run is about 4-5 µs a "
    "request: those two reads from main memory, writing the last steps seen of every run "
    "each second (2% of the process's time at most), and the holding cost above. Where the "
    "extension is not built (no C compiler at install), the records answer, with the same "
    "bytes; a test drives both through the same random operations and compares every "
    "answer.",
]


def _ok(met: bool) -> str:
    return "yes" if met else "**no**"


def report(quick: bool) -> str:
    info = machine()
    began = time.perf_counter()
    if quick:
        levels = hot_path.run(1, 1, [1, 32])
        configs, seeded = many_runs.run([1, 100], 10, 1, 1)
        counts = leases.run([1, 2], 600)
        shims = shim_step.run(2000, 2)
        ours, theirs = evaluate.run(100_000, 2, 1)
        starts = cold_start.run(1)
    else:
        levels = hot_path.run(3, 3, [1, 32, 128])
        configs, seeded = many_runs.run([1, 100, 10_000], 1000, 3, 3)
        counts = leases.run([1, 2, 4], 1900)
        shims = shim_step.run(20_000, 7)
        ours, theirs = evaluate.run(1_000_000, 5, 3)
        starts = cold_start.run(5)
    minutes = (time.perf_counter() - began) / 60

    out = ["# Benchmarks", ""]
    out += [
        "Generated by `python benchmarks/run_all.py`"
        + (" --quick (smoke configuration: these figures mean little)" if quick else "")
        + f" in {minutes:.0f} minutes. Every figure is a median of several repetitions, each "
        "measured side by side with its anchor in the same run; ratios are medians of the "
        "per-repetition ratios. Machines like this one are shared and noisy: trust the ratios "
        "more than the absolute figures.",
        "",
        "## Hot path: `GET /v1/runs/{run}/lr?step=S`",
        "",
        "One `lrcast-server serve` worker (SQLite) against a bare ASGI app returning a constant "
        "and a default FastAPI route with a response model, all under uvicorn with the same "
        "settings; wrk on loopback, the servers on one CPU and wrk on the other. Goals: "
        "≥ 0.40x the bare ASGI throughput, p99 ≤ 5 ms at 32 connections.",
        "",
        "| connections | bare ASGI req/s | FastAPI req/s | lrcast req/s | lrcast / bare | "
        "lrcast / FastAPI | p50 / p99 ms bare | FastAPI | lrcast | server CPU µs/req bare, "
        "FastAPI, lrcast |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for lv in levels:
        lat = {a: f"{lv.med(a, 'p50_ms'):.2f} / {lv.med(a, 'p99_ms'):.2f}" for a in hot_path.APPS}
        cpu = ", ".join(f"{lv.med(a, 'cpu_us'):.0f}" for a in hot_path.APPS)
        out.append(
            f"| {lv.connections} | {lv.med('bare', 'rps'):,.0f} | {lv.med('fastapi', 'rps'):,.0f} "
            f"| {lv.med('lrcast', 'rps'):,.0f} | {lv.ratio('lrcast', 'bare'):.2f}x "
            f"| {lv.ratio('lrcast', 'fastapi'):.2f}x | {lat['bare']} | {lat['fastapi']} "
            f"| {lat['lrcast']} | {cpu} |"
        )
    by_conns = {lv.connections: lv for lv in levels}
    if 32 in by_conns:
        lv = by_conns[32]
        out += [
            "",
            f"At 32 connections: {lv.ratio('lrcast', 'bare'):.2f}x bare ASGI (goal ≥ 0.40x: "
            f"{_ok(lv.ratio('lrcast', 'bare') >= 0.4)}), p99 {lv.med('lrcast', 'p99_ms'):.2f} ms "
            f"(goal ≤ 5 ms: {_ok(lv.med('lrcast', 'p99_ms') <= 5)}; the bare app's p99 on the "
            f"same machine: {lv.med('bare', 'p99_ms'):.2f} ms).",
        ]
    *spread, alone, records = configs
    most = spread[-1]
    schedules = min(1000, most.runs)
    out += [
        "",
        f"## Many runs: {', '.join(f'{c.runs:,}' for c in spread)} runs on {schedules:,} schedules",
        "",
        "32 connections; each request picks a run at random and asks that run's next step (as "
        "trainers do), over 1,024 committed steps per run; every run has its own scale, so no "
        "two runs share a computed block. Seeded in-process through the service layer "
        "(`schedules.publish`, `runs.bind`, `Core.commit`: the code the API runs, without "
        f"HTTP) in {seeded:.0f} s; each server answers every run once before it is measured. "
        f"The last two rows: the {most.runs:,}-run server again, asked about one run only, and "
        f"a server answering {records.runs:,} runs from Python records "
        "(`LRCAST_NATIVE_ANSWERS=false`, what answers where the compiled answer table is not "
        "built). Goals: ≥ 0.9x the 1-run throughput; ≤ 200 MB resident at 10,000 runs.",
        "",
        "| runs asked | req/s | x 1 run | p50 / p99 ms | server CPU µs/req | server RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in configs:
        out.append(
            f"| {many_runs.label(c)} | {c.med('rps'):,.0f} | "
            f"{many_runs.ratio(c, configs[0]):.2f}x | "
            f"{c.med('p50_ms'):.2f} / {c.med('p99_ms'):.2f} | {c.med('cpu_us'):.0f} | "
            f"{max(c.rss):.0f} |"
        )
    out += [
        "",
        f"At {most.runs:,} runs: {many_runs.ratio(most, configs[0]):.2f}x the 1-run "
        f"throughput (goal ≥ 0.9x: {_ok(many_runs.ratio(most, configs[0]) >= 0.9)}), "
        f"{max(most.rss):.0f} MB resident (goal ≤ 200 MB: {_ok(max(most.rss) <= 200)}). "
        f"Asked about one run, the same server gives {many_runs.ratio(alone, configs[0]):.2f}x"
        + (
            ": holding many runs costs little; spreading the answers over them is what costs "
            "(see [below](#why-many-runs-cost))."
            if many_runs.ratio(alone, configs[0]) >= 0.9
            else "."
        ),
    ]
    out += [
        "",
        "## Lease requests of a distributed job",
        "",
        "N real processes (`torch.distributed`, gloo, loopback), each stepping a `RemoteLR` "
        "(lease mode, block 256) through the same run; requests counted in the server's access "
        "log. Goal: one lease request per block, whatever N.",
        "",
        "| ranks | steps | blocks | lease requests | other requests to the run | "
        "same values on every rank |",
        "| ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for k in counts:
        out.append(
            f"| {k.ranks} | {k.steps:,} | {k.blocks} | {k.leases} | {k.other} | "
            f"{'yes' if k.same_values else '**no**'} |"
        )
    out += [
        "",
        "## `RemoteLR.step()` (lease mode) against `CosineAnnealingLR.step()`",
        "",
        "Same optimizer, same process, rounds interleaved; wall time per `step()` (the rounds "
        "step microseconds apart, far faster than any training loop, so with one block per "
        "lease a step can wait for the next lease's round trip) and the process's CPU time per "
        "`RemoteLR.step()` (background fetches included). Goal: ≤ 1.2x.",
        "",
        "| blocks per lease | torch µs/step | lrcast µs/step | lrcast / torch | "
        "lrcast CPU µs/step |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in shims:
        label = f"{s.blocks} (default)" if s.blocks == 1 else str(s.blocks)
        out.append(
            f"| {label} | {s.torch_us:.2f} | {s.lrcast_us:.2f} | {s.ratio:.2f}x | "
            f"{s.lrcast_cpu_us:.2f} |"
        )
    steps = 100_000 if quick else 1_000_000
    out += [
        "",
        "## Bulk evaluation",
        "",
        f"{steps:,} steps of a nested schedule (`warmup` then `cosine`) through "
        "`lrcast.evaluate`, against stepping torch's `SequentialLR(LinearLR, CosineAnnealingLR)` "
        "as many times. Goal: ≥ 100x.",
        "",
        "| lrcast ms | torch ms | torch / lrcast |",
        "| ---: | ---: | ---: |",
        f"| {ours * 1e3:,.1f} | {theirs * 1e3:,.0f} | {theirs / ours:,.0f}x |",
        "",
        "## Cold start",
        "",
        "Seconds from launching the server process to its first answered request (the hot path "
        "on an existing database for lrcast and the FastAPI anchor, `/` for the bare app), "
        "polled every 5 ms.",
        "",
        "| server | seconds to first answer | x bare |",
        "| --- | ---: | ---: |",
    ]
    base = starts.med("bare ASGI (uvicorn)")
    for name in cold_start.APPS:
        out.append(f"| {name} | {starts.med(name):.2f} | {starts.med(name) / base:.1f}x |")
    out += ["", *WHY_MANY_RUNS_COST]
    out += ["", "## The machine", "", "| | |", "| --- | --- |"]
    out += [f"| {key} | {value} |" for key, value in info.items()]
    out += [
        "",
        "## Rerun",
        "",
        "```sh",
        "apt-get install -y wrk            # the load generator (else a slower Python one)",
        "python benchmarks/run_all.py      # about five minutes; rewrites docs/benchmarks.md",
        "```",
        "",
        "Each benchmark also runs alone and prints its table: `python benchmarks/hot_path.py`, "
        "`many_runs.py`, `leases.py`, `shim_step.py`, `evaluate.py`, `cold_start.py` (`--help` "
        "for their options). Profiles: `py-spy record -p PID` on the server while a benchmark "
        "loads it.",
        "",
    ]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="smallest configurations")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    text = report(args.quick)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
