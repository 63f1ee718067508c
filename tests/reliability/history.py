"""The history checker: ranks that record every answer, an editor that records every
acknowledged edit, a model of what those edits make of a timeline, and the checks.

Ranks run in their own processes (``rank_main``), each writing one JSON line per answer the
server gave (``lr`` answers, and every step of every lease, prefetched ones included) and per
step its shim served. The parent compares all of it with the runs' final timelines.
"""

from __future__ import annotations

import json
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

import lrcast
from lrcast._lease import LeaseEngine
from lrcast._schemas import Lease, LrAnswer, TimelineSegment

T = TypeVar("T")
RETRY = lrcast.Retry(retries=3, backoff=0.05, max_backoff=0.5)
TIMEOUT = lrcast.Timeout(connect=2.0, read=30.0)
OUTAGES = (lrcast.TransportError, lrcast.ServerError)

SCHEDULES = ("hist-a", "hist-b")
RUNS: dict[str, dict[str, Any]] = {
    "hist-0": {"schedule": "hist-a", "block": 32},
    "hist-1": {"schedule": "hist-a", "block": 16, "groups": {"head": 10.0, "body": 0.5}},
    "hist-2": {"schedule": "hist-b", "block": 64, "total_steps": 20000},
    "hist-3": {"schedule": "hist-b", "block": 32, "scale": 2.0},
}
STEPS_PER_SECOND = 150
"""The pace of the leading ranks: edits land all along the runs."""


def document(seed: int) -> dict[str, Any]:
    """A schedule version, different for every seed (so every publish creates a version)."""
    rng = random.Random(seed)
    peak = round(rng.uniform(0.01, 1.0), 6)
    families: list[dict[str, Any]] = [
        {"type": "cosine", "start": peak, "end": 0.0, "steps": rng.randint(500, 8000)},
        {
            "type": "warmup",
            "steps": rng.randint(10, 300),
            "then": {"type": "linear", "start": peak, "end": peak / 10, "steps": 5000},
        },
        {"type": "expression", "expr": f"{peak} * exp(-t / {rng.randint(500, 5000)})"},
        {"type": "step", "start": peak, "factor": 0.5, "every": rng.randint(100, 1000)},
    ]
    return {
        "description": f"history version {seed}",
        "curves": {
            "lr": families[seed % len(families)],
            "momentum": {"type": "constant", "value": round(rng.uniform(0.8, 0.99), 6)},
        },
    }


# -- ranks ------------------------------------------------------------------------------------


class RecordingClient(lrcast.Client):
    """A client that writes down every per-step answer and every lease it receives."""

    def __init__(self, out: Any, rank: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.out = out
        self.rank = rank
        self.lock = threading.Lock()

    def write(self, line: list[Any]) -> None:
        with self.lock:
            self.out.write(json.dumps(line) + "\n")

    def lr(self, run: str, step: int) -> LrAnswer:
        answer = super().lr(run, step)
        self.write(["lr", run, self.rank, step, answer.values, answer.groups, answer.version])
        return answer

    def lease(self, run: str, step: int, *, blocks: int = 1) -> Lease:
        lease = super().lease(run, step, blocks=blocks)
        segments = [[s.from_step, s.version] for s in lease.timeline]
        self.write(["lease", run, self.rank, lease.from_step, lease.values, lease.groups, segments])
        return lease


def patient(call: Callable[[], T], give_up: float) -> T:
    """``call()`` again and again while the server is away (until ``give_up``)."""
    while True:
        try:
            return call()
        except OUTAGES:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.05)


def rank_main(rank: int, url: str, out_path: str, seconds: float, mode: str) -> None:
    """One simulated rank: step every run for ``seconds`` through the real client.

    ``mode``: ``lease`` or ``per_step`` (the shims' step engine, waiting out outages) or
    ``random`` (plain ``Client.lr`` / ``Client.lease`` at steps around the leaders')."""
    warnings.simplefilter("ignore", lrcast.OutageWarning)  # outages are expected here
    rng = random.Random(rank)
    start = time.monotonic()
    deadline = start + seconds
    give_up = deadline + 60
    with Path(out_path).open("w") as out:
        client = RecordingClient(out, rank, url=url, token=None, retry=RETRY, timeout=TIMEOUT)
        with client:
            if mode == "random":
                while time.monotonic() < deadline:
                    run = rng.choice(list(RUNS))
                    front = int((time.monotonic() - start) * STEPS_PER_SECOND)
                    step = max(0, front + rng.randint(-400, 200))
                    if rng.random() < 0.5:
                        patient(lambda: client.lr(run, step), give_up)  # noqa: B023
                    else:
                        patient(lambda: client.lease(run, step, blocks=2), give_up)  # noqa: B023
                    time.sleep(rng.uniform(0, 0.01))
            else:
                engines = {
                    run: LeaseEngine(
                        run,
                        client=client,
                        mode="lease" if mode == "lease" else "per_step",
                        on_outage="wait",
                        blocks=1 + rank % 2,
                    )
                    for run in RUNS
                }
                step = 0
                while time.monotonic() < deadline:
                    for run, engine in engines.items():
                        block = engine.advance(step)
                        assert block.source == "server", (run, step, block.source)
                        client.write(["served", run, rank, step, block.row(step)])
                    step += 1
                    if mode == "lease":
                        ahead = step - (time.monotonic() - start) * STEPS_PER_SECOND
                        if ahead > 0:
                            time.sleep(ahead / STEPS_PER_SECOND)
        out.write(json.dumps(["done", rank]) + "\n")


# -- the editor -------------------------------------------------------------------------------


@dataclass
class Edit:
    """One acknowledged (or, after a lost answer, looked up) edit of one run."""

    run: str
    kind: str  # "publish" or "patch"
    step: int  # the effective step the server announced (or that the lookup found)
    version: int
    scale: float | None = None
    acknowledged: bool = True


@dataclass
class Editor:
    """Publishes versions and patches runs at random moments, alternating between replicas,
    and writes down what each acknowledged edit announced."""

    urls: list[str]
    token: str
    seconds: float
    latest: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SCHEDULES, 1))
    edits: list[Edit] = field(default_factory=list)
    lost: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def clients(self) -> Iterator[lrcast.Client]:
        made = [
            lrcast.Client(
                url=url,
                token=self.token,
                retry=lrcast.Retry(retries=40, backoff=0.05, max_backoff=0.5),
            )
            for url in self.urls
        ]
        try:
            while True:
                yield from made
        finally:
            for client in made:
                client.close()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def _run(self) -> None:
        rng = random.Random(7)
        deadline = time.monotonic() + self.seconds
        seed = 100
        pool = self.clients()
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.05, 0.4))
            client = next(pool)
            seed += 1
            if rng.random() < 0.4:
                self._publish(client, SCHEDULES[seed % 2], seed)
            else:
                run = rng.choice(list(RUNS))
                scale = round(rng.uniform(0.25, 4.0), 4) + seed * 1e-9
                at_step = None
                if rng.random() < 0.3:
                    read = patient(lambda: client.get_run(run), deadline + 60)  # noqa: B023
                    at_step = read.horizon + rng.randint(1, 600)
                self._patch(client, run, scale, at_step)

    def _publish(self, client: lrcast.Client, name: str, seed: int) -> None:
        result = client.publish(name, document(seed))
        self.latest[name] = result.version
        if result.published:
            for switch in result.runs:
                self.edits.append(
                    Edit(switch.run, "publish", switch.effective_step, result.version)
                )
            return
        # Published, but the answer was lost and the retry found it there: look the steps up.
        self.lost += 1
        for run, body in RUNS.items():
            if body["schedule"] == name:
                timeline = client.get_run(run).timeline
                step = min(s.from_step for s in timeline if s.version == result.version)
                self.edits.append(Edit(run, "publish", step, result.version, acknowledged=False))

    def _patch(self, client: lrcast.Client, run: str, scale: float, at_step: int | None) -> None:
        version = self.latest[RUNS[run]["schedule"]]
        try:
            if at_step is None:
                edit = client.edit_run(run, scale=scale)
            else:
                edit = client.edit_run(run, scale=scale, at_step=at_step)
        except lrcast.TransportError:
            # The answer was lost (a PATCH is never retried blindly): did it happen?
            self.lost += 1
            timeline = patient(lambda: client.get_run(run), time.monotonic() + 60).timeline
            found = [s.from_step for s in timeline if s.scale == scale]
            if found:
                self.edits.append(Edit(run, "patch", found[0], version, scale, acknowledged=False))
            return
        self.edits.append(Edit(run, "patch", edit.effective_step, version, scale))


# -- the model and the checks -----------------------------------------------------------------

Piece = tuple[int, int, float]
"""A timeline segment as the edits see it: (from_step, version, scale)."""


def model_timeline(run: str, edits: list[Edit]) -> list[Piece]:
    """What the run's timeline must be after ``edits`` (in the order they were made), by the
    rules of DESIGN.md: a publish switches the run at its step (later segments keep their
    place, on the new version); a patch replaces everything from its step on."""
    pieces: list[Piece] = [(0, 1, float(RUNS[run].get("scale", 1.0)))]
    for edit in (e for e in edits if e.run == run):
        base = [p for p in pieces if p[0] <= edit.step][-1]
        before = [p for p in pieces if p[0] < edit.step]
        if edit.kind == "publish":
            later = [(p[0], edit.version, p[2]) for p in pieces if p[0] > edit.step]
            pieces = [*before, (edit.step, edit.version, base[2]), *later]
        else:
            assert edit.scale is not None
            pieces = [*before, (edit.step, edit.version, edit.scale)]
    return pieces


@dataclass
class History:
    """Every answer the ranks recorded, by (run, step)."""

    answers: int = 0
    served: int = 0
    by_step: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    versions: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    ranks_done: set[int] = field(default_factory=set)

    def add(self, run: str, step: int, values: dict[str, Any], version: int | None) -> None:
        key = (run, step)
        self.by_step.setdefault(key, set()).add(json.dumps(values, sort_keys=True))
        if version is not None:
            self.versions.setdefault(key, set()).add(version)

    def read(self, path: Path) -> None:
        for line in path.read_text().splitlines():
            kind, *rest = json.loads(line)
            if kind == "done":
                self.ranks_done.add(rest[0])
            elif kind == "lr":
                run, _rank, step, values, groups, version = rest
                self.answers += 1
                self.add(run, step, {**values, **_grouped(groups)}, version)
            elif kind == "lease":
                run, _rank, first, values, groups, segments = rest
                timeline = [
                    TimelineSegment(from_step=s, schedule="x", version=v) for s, v in segments
                ]
                for i in range(len(values["lr"])):
                    row = {name: column[i] for name, column in values.items()}
                    row |= _grouped({name: column[i] for name, column in groups.items()})
                    version = lrcast.segment_for(timeline, first + i).version
                    self.answers += 1
                    self.add(run, first + i, row, version)
            elif kind == "served":
                run, _rank, step, row = rest
                self.served += 1
                self.add(run, step, row, None)

    def disagreements(self) -> dict[tuple[str, int], set[str]]:
        """(run, step)s answered with two different values (served rows carry no groups: they
        are compared on the curves they share)."""
        bad = {}
        for key, seen in self.by_step.items():
            rows = [json.loads(s) for s in seen]
            names = set.intersection(*(set(r) for r in rows))
            if len({json.dumps({n: r[n] for n in sorted(names)}) for r in rows}) > 1:
                bad[key] = seen
        return bad


def _grouped(groups: dict[str, Any]) -> dict[str, Any]:
    return {f"group:{name}": value for name, value in groups.items()}


class Final:
    """The runs' final timelines and the values they give, computed with the language alone."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.runs: dict[str, dict[str, Any]] = {}
        self.documents: dict[tuple[str, int], Any] = {}
        self.blocks: dict[tuple[str, int], dict[str, Any]] = {}

    def run(self, run: str) -> dict[str, Any]:
        if run not in self.runs:
            response = self.client.get(f"/v1/runs/{run}")
            response.raise_for_status()
            self.runs[run] = response.json()
        return self.runs[run]

    def timeline(self, run: str) -> list[TimelineSegment]:
        return [TimelineSegment(**s) for s in self.run(run)["timeline"]]

    def pieces(self, run: str) -> list[Piece]:
        return [(s.from_step, s.version, s.scale) for s in self.timeline(run)]

    def at(self, run: str, step: int) -> tuple[dict[str, float], int]:
        """Every value of ``run`` at ``step`` (curves and group lrs), and its version."""
        size = self.run(run)["block"]
        k = step // size
        segment = lrcast.segment_for(self.timeline(run), k * size)
        assert isinstance(segment, TimelineSegment)
        if (run, k) not in self.blocks:
            key = (segment.schedule, segment.version)
            if key not in self.documents:
                response = self.client.get(f"/v1/schedules/{key[0]}/versions/{key[1]}")
                response.raise_for_status()
                self.documents[key] = response.json()["document"]
            compiled = lrcast.compile_document(
                self.documents[key],
                total_steps=segment.total_steps,
                steps_per_epoch=segment.steps_per_epoch,
            )
            self.blocks[(run, k)] = lrcast.segment_block(compiled, segment, k, size)
        values = self.blocks[(run, k)]
        i = step - k * size
        row = {name: float(column[i]) for name, column in values.items()}
        row |= {f"group:{g}": float(values["lr"][i] * m) for g, m in segment.groups.items()}
        return row, segment.version
