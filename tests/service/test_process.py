"""Against real ``lrcast-server serve`` processes: the hot path, restarts, several workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import lrcast
from lrcast._schemas import TimelineSegment
from tests.service.helpers import COSINE, Server

ADMIN = "process-test-admin-token-42"
HEADERS = {"Authorization": f"Bearer {ADMIN}"}

pytestmark = pytest.mark.slow


def expected_values(client: httpx.Client, run: str, steps: list[int]) -> dict[int, float]:
    """Each step's lr from the run's final timeline, computed with the language alone."""
    read = client.get(f"/v1/runs/{run}").json()
    block = read["block"]
    timeline = [TimelineSegment(**s) for s in read["timeline"]]
    documents: dict[tuple[str, int], Any] = {}
    out = {}
    for step in steps:
        k = step // block
        segment = lrcast.segment_for(timeline, k * block)
        key = (segment.schedule, segment.version)
        if key not in documents:
            version = client.get(f"/v1/schedules/{key[0]}/versions/{key[1]}").json()
            documents[key] = version["document"]
        compiled = lrcast.compile_document(
            documents[key],
            total_steps=segment.total_steps,
            steps_per_epoch=segment.steps_per_epoch,
        )
        values = lrcast.segment_block(compiled, segment, k, block)
        out[step] = float(values["lr"][step - k * block])
    return out


@pytest.fixture
def one(serve: Callable[..., Server]) -> Iterator[httpx.Client]:
    server = serve(LRCAST_ADMIN_TOKEN=ADMIN)
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        yield client


def test_real_server_answers_the_hot_path(one: httpx.Client) -> None:
    assert one.put("/v1/schedules/s", json=COSINE).status_code == 201
    assert one.put("/v1/runs/r", json={"schedule": "s", "groups": {"g": 0.5}}).status_code == 201
    answers = {
        step: one.get("/v1/runs/r/lr", params={"step": step}).json() for step in range(0, 600, 7)
    }
    want = expected_values(one, "r", list(answers))
    for step, body in answers.items():
        assert body["lr"] == want[step]
        assert body["groups"]["g"] == want[step] * 0.5
    assert one.get("/v1/runs/r").json()["horizon"] == 767
    assert one.get("/readyz").json() == {"status": "ready"}


def test_real_server_refuses_oversized_bodies_with_or_without_length(one: httpx.Client) -> None:
    big = b'{"description": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = one.put("/v1/schedules/s", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    response = one.put(
        "/v1/schedules/s", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_restart_keeps_every_answer(serve: Callable[..., Server]) -> None:
    server = serve(LRCAST_ADMIN_TOKEN=ADMIN)
    steps = [0, 5, 130, 300, 1000]
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        client.put("/v1/schedules/s", json=COSINE)
        client.put("/v1/runs/r", json={"schedule": "s", "block": 128, "scale": 3.0})
        before = {s: client.get("/v1/runs/r/lr", params={"step": s}).json() for s in steps}
        client.put("/v1/schedules/s", json={"curves": {"lr": {"type": "constant", "value": 1}}})
        edited = client.get("/v1/runs/r/lr", params={"step": 1200}).json()
        run = client.get("/v1/runs/r").json()
    server.stop()
    server.start()
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        after = {s: client.get("/v1/runs/r/lr", params={"step": s}).json() for s in steps}
        assert after == before
        assert client.get("/v1/runs/r/lr", params={"step": 1200}).json() == edited
        again = client.get("/v1/runs/r").json()
        assert again["timeline"] == run["timeline"]
        assert again["horizon"] >= run["horizon"]
        assert again["last_step_seen"] == 1200
        patch = client.patch("/v1/runs/r", json={"scale": 1.0}).json()
        assert patch["effective_step"] == 1280


def test_two_workers_stay_consistent_under_concurrent_edits(
    serve: Callable[..., Server],
) -> None:
    server = serve(workers=2, LRCAST_ADMIN_TOKEN=ADMIN)
    block, last = 8, 480
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        assert client.put("/v1/schedules/s", json=COSINE).status_code == 201
        assert client.put("/v1/runs/r", json={"schedule": "s", "block": block}).status_code == 201

    answers: list[tuple[int, float]] = []
    lock = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []

    def reader(index: int) -> None:
        try:
            got = []
            with httpx.Client(base_url=server.url, timeout=30) as client:
                for step in range(index, last, 1 + index % 3):
                    if index % 2:
                        lease = client.get("/v1/runs/r/lease", params={"step": step}).json()
                        got.extend(
                            (lease["from_step"] + i, v) for i, v in enumerate(lease["values"]["lr"])
                        )
                    else:
                        body = client.get("/v1/runs/r/lr", params={"step": step}).json()
                        got.append((step, body["lr"]))
            with lock:
                answers.extend(got)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def editor() -> None:
        try:
            with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
                version = 0
                while not done.is_set():
                    version += 1
                    document = {
                        "description": f"edit {version}",
                        "curves": {"lr": {"type": "constant", "value": version / 100}},
                    }
                    if version % 3 == 0:
                        response = client.patch("/v1/runs/r", json={"scale": 1 + version / 10})
                    else:
                        response = client.put("/v1/schedules/s", json=document)
                    assert response.status_code in (200, 201), response.text
                    time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(6)]
    edits = threading.Thread(target=editor)
    edits.start()
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(timeout=120)
    done.set()
    edits.join(timeout=30)
    assert not errors, errors

    by_step: dict[int, set[float]] = {}
    for step, value in answers:
        by_step.setdefault(step, set()).add(value)
    assert all(len(values) == 1 for values in by_step.values()), {
        s: v for s, v in by_step.items() if len(v) > 1
    }
    with httpx.Client(base_url=server.url, timeout=30) as client:
        timeline = client.get("/v1/runs/r").json()["timeline"]
        want = expected_values(client, "r", sorted(by_step))
    assert len(timeline) > 5
    assert {step: values.pop() for step, values in by_step.items()} == want
