"""Two ``lrcast-server serve`` replicas on one PostgreSQL database: trainers spread over both
while an editor publishes versions and patches runs. No step ever gets two values, and every value
is the one the final timeline gives."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.topology import ADMIN, start_replicas, stop_all
from tests.service.helpers import COSINE, Server
from tests.service.test_process import expected_values

pytestmark = pytest.mark.slow

RUNS = ("r1", "r2")
BLOCK = 8
LAST_STEP = 400


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[list[Server]]:
    servers = start_replicas(tmp_path / "data", postgres_url)
    yield servers
    stop_all(servers)


def trainer(
    index: int, urls: list[str], answers: list[tuple[str, int, float]], lock: threading.Lock
) -> None:
    """Ask every few steps of both runs, each request to the next replica; odd trainers lease."""
    got: list[tuple[str, int, float]] = []
    clients = [httpx.Client(base_url=url, headers=ADMIN, timeout=30) for url in urls]
    spread = itertools.cycle(clients)
    try:
        for step in range(index, LAST_STEP, 1 + index % 4):
            run = RUNS[step % 2]
            client = next(spread)
            if index % 2:
                response = client.get(f"/v1/runs/{run}/lease", params={"step": step})
                assert response.status_code == 200, response.text
                lease = response.json()
                got.extend(
                    (run, lease["from_step"] + i, v) for i, v in enumerate(lease["values"]["lr"])
                )
            else:
                response = client.get(f"/v1/runs/{run}/lr", params={"step": step})
                assert response.status_code == 200, response.text
                got.append((run, step, response.json()["lr"]))
    finally:
        for client in clients:
            client.close()
    with lock:
        answers.extend(got)


def editor(urls: list[str], done: threading.Event, edits: list[str]) -> None:
    """Publish new versions and patch the runs, through both replicas in turn, until done."""
    clients = [httpx.Client(base_url=url, headers=ADMIN, timeout=30) for url in urls]
    try:
        for n in itertools.count(1):
            if done.is_set():
                return
            client = clients[n % 2]
            if n % 3 == 0:
                run = RUNS[n % 2]
                response = client.patch(f"/v1/runs/{run}", json={"scale": 1 + n / 10})
                edits.append(f"patch {run}")
            else:
                document = {
                    "description": f"edit {n}",
                    "curves": {"lr": {"type": "constant", "value": n / 100}},
                }
                response = client.put("/v1/schedules/s", json=document)
                edits.append("publish")
            assert response.status_code in (200, 201), response.text
            time.sleep(0.005)
    finally:
        for client in clients:
            client.close()


def test_replicas_on_one_database_never_give_a_step_two_values(replicas: list[Server]) -> None:
    urls = [server.url for server in replicas]
    with httpx.Client(base_url=urls[0], headers=ADMIN, timeout=30) as client:
        assert client.put("/v1/schedules/s", json=COSINE).status_code == 201
        for run in RUNS:
            response = client.put(f"/v1/runs/{run}", json={"schedule": "s", "block": BLOCK})
            assert response.status_code == 201, response.text

    answers: list[tuple[str, int, float]] = []
    edits: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []

    def guarded(target: object, *args: object) -> threading.Thread:
        def body() -> None:
            try:
                target(*args)  # type: ignore[operator]
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        return threading.Thread(target=body)

    edit = guarded(editor, urls, done, edits)
    trainers = [guarded(trainer, i, urls, answers, lock) for i in range(6)]
    edit.start()
    for thread in trainers:
        thread.start()
    for thread in trainers:
        thread.join(timeout=120)
    done.set()
    edit.join(timeout=30)
    assert not errors, errors

    by_step: dict[tuple[str, int], set[float]] = {}
    for run, step, value in answers:
        by_step.setdefault((run, step), set()).add(value)
    disagreements = {key: values for key, values in by_step.items() if len(values) > 1}
    assert not disagreements
    with httpx.Client(base_url=urls[1], headers=ADMIN, timeout=30) as client:
        for run in RUNS:
            steps = sorted(step for r, step in by_step if r == run)
            want = expected_values(client, run, steps)
            assert {step: by_step[run, step].pop() for step in steps} == want
            assert len(client.get(f"/v1/runs/{run}").json()["timeline"]) > 3
    print(
        f"replicas: {len(answers)} answers for {len(by_step)} (run, step) pairs, "
        f"{len(edits)} edits ({edits.count('publish')} publishes), "
        f"{len(disagreements)} disagreements"
    )
