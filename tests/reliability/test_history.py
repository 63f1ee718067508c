"""The history checker: 8 ranks, an editor and a fault injector against real servers; then
every recorded answer and acknowledged edit is checked against the runs' final timelines."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.reliability.cluster import ADMIN, ADMIN_TOKEN, Cluster
from tests.reliability.history import (
    RUNS,
    SCHEDULES,
    Editor,
    Final,
    History,
    document,
    model_timeline,
    rank_main,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SECONDS = 24.0
MODES = ["lease", "lease", "lease", "per_step", "per_step", "per_step", "random", "random"]


def faults(cluster: Cluster, seconds: float) -> None:
    """Pause a process, kill a whole server, pause again, kill again (alternating replicas)."""
    last = len(cluster.servers) - 1
    plan: list[tuple[float, Callable[[], None]]] = [
        (0.2, lambda: cluster.pause(last)),
        (0.4, lambda: cluster.kill(0)),
        (0.6, lambda: cluster.pause(0)),
        (0.75, lambda: cluster.kill(last)),
    ]
    start = time.monotonic()
    for at, fault in plan:
        time.sleep(max(0.0, start + at * seconds - time.monotonic()))
        fault()


def check_history(cluster: Cluster, tmp_path: Path, label: str) -> None:
    with httpx.Client(base_url=cluster.urls[0], headers=ADMIN, timeout=30) as client:
        for i, name in enumerate(SCHEDULES):
            assert client.put(f"/v1/schedules/{name}", json=document(i)).status_code == 201
        for run, body in RUNS.items():
            assert client.put(f"/v1/runs/{run}", json=body).status_code == 201

    context = multiprocessing.get_context("spawn")
    ranks = [
        context.Process(
            target=rank_main,
            args=(
                rank,
                cluster.urls[rank % len(cluster.urls)],
                str(tmp_path / f"rank-{rank}"),
                SECONDS,
                mode,
            ),
        )
        for rank, mode in enumerate(MODES)
    ]
    for process in ranks:
        process.start()
    editor = Editor(cluster.urls, ADMIN_TOKEN, SECONDS)
    editing = threading.Thread(target=editor.run)
    editing.start()
    started = time.monotonic()
    faults(cluster, SECONDS)
    editing.join(timeout=SECONDS + 120)
    for process in ranks:
        process.join(timeout=SECONDS + 120)
    elapsed = time.monotonic() - started
    assert not editor.errors, editor.errors
    assert [p.exitcode for p in ranks] == [0] * len(ranks)

    history = History()
    for rank in range(len(MODES)):
        history.read(tmp_path / f"rank-{rank}")
    cluster.wait_ready()
    wrong_values = wrong_versions = 0
    with httpx.Client(base_url=cluster.urls[-1], headers=ADMIN, timeout=30) as client:
        final = Final(client)
        for (run, step), seen in history.by_step.items():
            want, version = final.at(run, step)
            for answer in seen:
                row = json.loads(answer)
                wrong_values += any(row[name] != want[name] for name in row)
            wrong_versions += any(v != version for v in history.versions.get((run, step), ()))
        models = {run: model_timeline(run, editor.edits) for run in RUNS}
        timelines = {run: final.pieces(run) for run in RUNS}
    disagreements = history.disagreements()
    present = sum(
        1 for e in editor.edits if (e.step, e.version) in {(p[0], p[1]) for p in timelines[e.run]}
    )
    print(
        f"\nhistory [{label}]: {len(history.ranks_done)} ranks, {history.answers} answers "
        f"({len(history.by_step)} distinct run-steps), {history.served} steps served, "
        f"{len(editor.edits)} edits ({sum(e.acknowledged for e in editor.edits)} acknowledged, "
        f"{editor.lost} answers lost and looked up, {present} still in the final timelines), "
        f"{cluster.kills} kills, {cluster.pauses} pauses, {len(disagreements)} disagreements, "
        f"{wrong_values} answers off the final timeline, {wrong_versions} wrong versions, "
        f"{elapsed:.1f}s"
    )
    assert history.ranks_done == set(range(len(MODES)))
    assert not disagreements, list(disagreements.items())[:5]
    assert wrong_values == 0
    assert wrong_versions == 0
    assert timelines == models
    assert cluster.kills == 2
    assert cluster.pauses == 2


def test_two_workers_on_sqlite_keep_every_answer_through_kills_and_pauses(
    cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    check_history(cluster(replicas=1, workers=2), tmp_path, "sqlite, 2 workers")


def test_two_replicas_on_postgresql_keep_every_answer_through_kills_and_pauses(
    cluster: Callable[..., Cluster], tmp_path: Path, postgres_url: str
) -> None:
    replicas = cluster(replicas=2, workers=1, LRCAST_DATABASE_URL=postgres_url)
    check_history(replicas, tmp_path, "postgresql, 2 replicas")
