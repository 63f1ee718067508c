"""The compose topology as plain processes: PostgreSQL, two ``lrcast-server serve`` replicas and
nginx with ``deploy/nginx.conf``. Traffic through the balancer reaches both replicas, answers are
consistent through edits, and the balancer keeps answering when a replica goes away."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.topology import (
    ADMIN,
    NGINX_CONF,
    Nginx,
    local_nginx_conf,
    start_replicas,
    stop_all,
)
from tests.service.helpers import COSINE, Server, free_port
from tests.service.test_process import expected_values

pytestmark = pytest.mark.slow

BLOCK = 16


@pytest.fixture
def topology(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Nginx, list[Server]]]:
    replicas = start_replicas(tmp_path / "data", postgres_url)
    nginx = Nginx(tmp_path / "nginx", free_port())
    try:
        conf = local_nginx_conf(NGINX_CONF.read_text(), [s.port for s in replicas], nginx.port)
        yield nginx.start(conf), replicas
    finally:
        nginx.stop()
        stop_all(replicas)


def test_local_config_changes_only_the_upstream_addresses_and_the_port() -> None:
    conf = NGINX_CONF.read_text()
    local = local_nginx_conf(conf, [9001, 9002], 9000)
    changed = [
        (a.strip(), b.strip())
        for a, b in zip(conf.splitlines(), local.splitlines(), strict=True)
        if a != b
    ]
    assert [b.split()[:2] for _, b in changed] == [
        ["server", "127.0.0.1:9001"],
        ["server", "127.0.0.1:9002"],
        ["listen", "127.0.0.1:9000;"],
    ]


def test_traffic_through_the_balancer_reaches_both_replicas_and_stays_consistent(
    topology: tuple[Nginx, list[Server]],
) -> None:
    nginx, replicas = topology
    answers: dict[int, set[float]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    with httpx.Client(base_url=nginx.url, headers=ADMIN, timeout=30) as client:
        assert client.put("/v1/schedules/s", json=COSINE).status_code == 201
        response = client.put("/v1/runs/r", json={"schedule": "s", "block": BLOCK})
        assert response.status_code == 201, response.text

    def trainer(index: int) -> None:
        try:
            with httpx.Client(base_url=nginx.url, headers=ADMIN, timeout=30) as client:
                for step in range(index, 320, 3):
                    response = client.get("/v1/runs/r/lr", params={"step": step})
                    assert response.status_code == 200, response.text
                    with lock:
                        answers.setdefault(step, set()).add(response.json()["lr"])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def editor() -> None:
        try:
            with httpx.Client(base_url=nginx.url, headers=ADMIN, timeout=30) as client:
                for n in range(1, 13):
                    if n % 2:
                        response = client.patch("/v1/runs/r", json={"scale": 1 + n / 10})
                    else:
                        document = {"curves": {"lr": {"type": "constant", "value": n / 100}}}
                        response = client.put("/v1/schedules/s", json=document)
                    assert response.status_code in (200, 201), response.text
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=trainer, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=editor))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert all(len(values) == 1 for values in answers.values())

    upstreams = re.findall(r"upstream=127\.0\.0\.1:(\d+)", nginx.log.read_text())
    assert {int(port) for port in upstreams} == {server.port for server in replicas}

    # One replica goes away: the balancer sends everything to the other, with the same answers.
    replicas[0].stop()
    with httpx.Client(base_url=nginx.url, headers=ADMIN, timeout=30) as client:
        again = {}
        for step in sorted(answers)[::5]:
            response = client.get("/v1/runs/r/lr", params={"step": step})
            assert response.status_code == 200, response.text
            again[step] = response.json()["lr"]
        assert again == {step: next(iter(answers[step])) for step in again}
        want = expected_values(client, "r", sorted(answers))
        assert len(client.get("/v1/runs/r").json()["timeline"]) > 3
    assert {step: values.pop() for step, values in answers.items()} == want


def test_a_clients_request_id_passes_the_balancer_and_one_is_made_for_requests_without(
    topology: tuple[Nginx, list[Server]],
) -> None:
    nginx, _ = topology
    with httpx.Client(base_url=nginx.url, headers=ADMIN, timeout=30) as client:
        given = client.get("/v1/schedules", headers={"X-Request-ID": "trace-41"})
        made = client.get("/v1/schedules")
    assert given.headers["x-request-id"] == "trace-41"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    # nginx writes its access log line after it has sent the answer: wait for both.
    wanted = {"trace-41", made.headers["x-request-id"]}
    deadline = time.monotonic() + 10
    while not wanted <= set(re.findall(r"request_id=(\S+)", nginx.log.read_text())):
        assert time.monotonic() < deadline, nginx.log.read_text()[-2000:]
        time.sleep(0.05)
