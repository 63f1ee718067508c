"""Durability: bursts of writes (publishes, run edits, metric reports) from several threads, a
SIGKILL of the whole server in the middle, a restart on the same data; then every write that
got a 2xx must be there exactly as acknowledged, and the database must be sound (SQLite's
``PRAGMA integrity_check``; on PostgreSQL, well-formed timelines)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import httpx
import pytest

from tests.reliability.cluster import ADMIN, Cluster

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

WRITERS = 6
SCHEDULES = ("dur-a", "dur-b", "dur-c")
RUN_SCHEDULE = "dur-runs"
"""The runs follow a schedule nobody publishes to during the burst: their timelines then hold
exactly the edits, each at the step it announced."""
BLOCK = 16
BURST = 1.5
"""Seconds of writes before the SIGKILL."""


def document(writer: int, i: int) -> dict[str, Any]:
    """A schedule version unique to (writer, i)."""
    return {
        "description": f"durability {writer}-{i}",
        "curves": {
            "lr": {"type": "constant", "value": round(0.001 * (1 + writer) + 1e-6 * i, 9)},
            "momentum": {"type": "cosine", "start": 0.9, "end": 0.1, "steps": 100 + i},
        },
    }


@dataclass
class Acks:
    """One writer's record: what the server acknowledged, and what it never answered."""

    publishes: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    """(schedule, version, document as acknowledged)."""
    edits: list[tuple[str, int, float]] = field(default_factory=list)
    """(run, effective_step, scale)."""
    metrics: list[tuple[str, int, str, float]] = field(default_factory=list)
    """(run, step, name, value)."""
    unacknowledged: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def writer(url: str, index: int, stop: threading.Event, acks: Acks) -> None:
    """Cycle publish, edit, metric report until ``stop`` or the server goes away. Edits go to
    this writer's own run at strictly increasing block-aligned ``at_step``s (so none supersedes
    another); metric reports use unique (step, name)."""
    run = f"dur-run-{index}"
    kinds = ("publish", "edit", "metric")
    i = 0
    try:
        with httpx.Client(base_url=url, headers=ADMIN, timeout=httpx.Timeout(10.0)) as client:
            while not stop.is_set():
                kind = kinds[i % 3]
                try:
                    if kind == "publish":
                        name = SCHEDULES[(index + i) % len(SCHEDULES)]
                        response = client.put(f"/v1/schedules/{name}", json=document(index, i))
                    elif kind == "edit":
                        scale = round(1.0 + index + i * 1e-4, 6)
                        body = {"scale": scale, "at_step": BLOCK * (i + 1)}
                        response = client.patch(f"/v1/runs/{run}", json=body)
                    else:
                        value = index * 1000.0 + i + 0.5
                        metric = f"loss_{index}"
                        report = {"step": i, "name": metric, "value": value}
                        response = client.post(f"/v1/runs/{run}/metrics", json=report)
                except httpx.TransportError:
                    # Killed mid-request: it may or may not have landed.
                    acks.unacknowledged[kind] = acks.unacknowledged.get(kind, 0) + 1
                    return
                if not response.is_success:
                    acks.refused.append(f"{kind} {response.status_code} {response.text[:200]}")
                elif kind == "publish":
                    assert response.status_code == 201, response.text
                    answer = response.json()
                    assert answer["published"] is True
                    acks.publishes.append((name, answer["version"], answer["document"]))
                elif kind == "edit":
                    answer = response.json()
                    acks.edits.append((run, answer["effective_step"], scale))
                else:
                    assert response.status_code == 201, response.text
                    acks.metrics.append((run, i, metric, value))
                i += 1
    except BaseException as exc:  # reported by the test
        acks.errors.append(exc)


def all_pages(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        response = client.get(path, params=query)
        response.raise_for_status()
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def check_durability(cluster: Cluster, label: str) -> None:
    url = cluster.urls[0]
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        for name in (*SCHEDULES, RUN_SCHEDULE):
            body = {"curves": {"lr": {"type": "constant", "value": 0.1}}}
            assert client.put(f"/v1/schedules/{name}", json=body).status_code == 201
        for w in range(WRITERS):
            bind = {"schedule": RUN_SCHEDULE, "block": BLOCK}
            assert client.put(f"/v1/runs/dur-run-{w}", json=bind).status_code == 201

    stop = threading.Event()
    records = [Acks() for _ in range(WRITERS)]
    threads = [
        threading.Thread(target=writer, args=(url, w, stop, records[w])) for w in range(WRITERS)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(BURST)
    cluster.kill(0)  # SIGKILL the process group, then start again on the same data
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    errors = [exc for acks in records for exc in acks.errors]
    assert not errors, errors
    cluster.wait_ready()

    publishes = [p for acks in records for p in acks.publishes]
    edits = [e for acks in records for e in acks.edits]
    metrics = [m for acks in records for m in acks.metrics]
    refused = [r for acks in records for r in acks.refused]
    unacknowledged: dict[str, int] = {}
    for acks in records:
        for kind, count in acks.unacknowledged.items():
            unacknowledged[kind] = unacknowledged.get(kind, 0) + count

    lost: list[str] = []
    malformed: list[str] = []
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        # Publishes: every acknowledged version listed, with the acknowledged document.
        versions = {
            name: {item["version"] for item in all_pages(client, f"/v1/schedules/{name}/versions")}
            for name in SCHEDULES
        }
        acked_versions = [(name, version) for name, version, _ in publishes]
        assert len(set(acked_versions)) == len(acked_versions), "a version acknowledged twice"
        for name, version, doc in publishes:
            response = client.get(f"/v1/schedules/{name}/versions/{version}")
            if version not in versions[name] or response.status_code != 200:
                lost.append(f"publish {name} v{version}: {response.status_code}")
            elif response.json()["document"] != doc:
                lost.append(f"publish {name} v{version}: document {response.json()['document']}")

        # Edits: a segment at each announced effective step, with its scale; timelines sound.
        timelines: dict[str, list[dict[str, Any]]] = {}
        for w in range(WRITERS):
            run = f"dur-run-{w}"
            response = client.get(f"/v1/runs/{run}")
            response.raise_for_status()
            timeline = timelines[run] = response.json()["timeline"]
            starts = [segment["from_step"] for segment in timeline]
            if (
                not starts
                or starts[0] != 0
                or any(b <= a for a, b in pairwise(starts))
                or any(step % BLOCK for step in starts)
            ):
                malformed.append(f"{run}: {starts}")
        for run, step, scale in edits:
            found = [s for s in timelines[run] if s["from_step"] == step]
            if not found or found[0]["scale"] != scale:
                lost.append(f"edit {run}@{step} scale {scale}: {found}")

        # Metric reports: every acknowledged (step, name) with its value.
        stored = {
            (f"dur-run-{w}", item["step"], item["name"]): item["value"]
            for w in range(WRITERS)
            for item in all_pages(client, f"/v1/runs/dur-run-{w}/metrics", limit=10_000)
        }
        for run, step, name, value in metrics:
            if stored.get((run, step, name)) != value:
                lost.append(f"metric {run} {step} {name}={value}: {stored.get((run, step, name))}")

    integrity = "n/a (postgresql)"
    if "LRCAST_DATABASE_URL" not in cluster.env:
        cluster.stop()
        with closing(sqlite3.connect(cluster.data_dir / "lrcast.db")) as db:
            integrity = ", ".join(row[0] for row in db.execute("PRAGMA integrity_check"))
    elapsed = time.monotonic() - started
    print(
        f"\ndurability [{label}]: acknowledged {len(publishes)} publishes, {len(edits)} edits, "
        f"{len(metrics)} metric reports; unacknowledged {sum(unacknowledged.values())} "
        f"{unacknowledged}; refused {len(refused)}; lost {len(lost)}; malformed timelines "
        f"{len(malformed)}; integrity {integrity}; {cluster.kills} kill; {elapsed:.1f}s"
    )
    assert not lost, lost[:10]
    assert not malformed, malformed
    assert not refused, refused[:10]
    assert integrity in ("ok", "n/a (postgresql)")
    assert cluster.kills == 1
    # The kill came mid-burst: writes were acknowledged, and some were cut off.
    assert publishes
    assert edits
    assert metrics
    assert sum(unacknowledged.values()) > 0


def test_two_workers_on_sqlite_keep_every_acknowledged_write_through_a_sigkill(
    cluster: Callable[..., Cluster],
) -> None:
    check_durability(cluster(replicas=1, workers=2), "sqlite, 2 workers")


def test_postgresql_keeps_every_acknowledged_write_through_a_sigkill(
    cluster: Callable[..., Cluster], postgres_url: str
) -> None:
    check_durability(
        cluster(replicas=1, workers=2, LRCAST_DATABASE_URL=postgres_url), "postgresql, 2 workers"
    )
