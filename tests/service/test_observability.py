"""``/metrics`` (one process and several workers), request ids, JSON request logs, health."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from lrcast_server.db import Database
from lrcast_server.observability import JsonFormatter
from tests.service.helpers import COSINE, Server, bind, core_of, publish

ADMIN = "observability-admin-token-0123"
HOT = 'route="/v1/runs/{run}/lr"'


def sample(text: str, name: str, *labels: str) -> float:
    """The sum of the samples of ``name`` whose label set contains every one of ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match and all(label in (match[1] or "") for label in labels):
            total += float(match[2])
    return total


def test_metrics_count_requests_by_route_template_leases_raises_edits_and_cache(
    client: TestClient, writer: dict[str, str]
) -> None:
    before = client.get("/metrics").text
    publish(client, writer, "cos", COSINE)
    bind(client, writer, "obs-run", schedule="cos", block=16)
    for step in (0, 1, 2, 20):
        assert client.get("/v1/runs/obs-run/lr", params={"step": step}).status_code == 200
    assert client.get("/v1/runs/obs-run/lease", params={"step": 40}).status_code == 200
    patched = client.patch("/v1/runs/obs-run", json={"scale": 0.5}, headers=writer)
    assert patched.status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def delta(name: str, *labels: str) -> float:
        return sample(after, name, *labels) - sample(before, name, *labels)

    assert delta("lrcast_http_requests_total", HOT, 'status="200"') == 4
    assert delta("lrcast_http_request_duration_seconds_count", HOT) == 4
    assert delta("lrcast_http_requests_total", 'route="/v1/runs/{run}"', 'method="PATCH"') == 1
    assert delta("lrcast_lease_requests_total") == 1
    assert delta("lrcast_horizon_raises_total") == 3  # blocks 0, 1 and 2
    assert delta("lrcast_edits_total", 'kind="patch"') == 1
    assert delta("lrcast_block_cache_total", 'result="hit"') >= 1
    assert delta("lrcast_block_cache_total", 'result="miss"') >= 3
    assert "obs-run" not in after  # routes are templates, never raw paths


def test_unknown_paths_are_counted_without_their_path(client: TestClient) -> None:
    client.get("/no/such/path-1234")
    assert "path-1234" not in client.get("/metrics").text
    assert 'route="unmatched"' in client.get("/metrics").text


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    hostile = client.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    assert hostile.headers["x-request-id"] != "a b\tc"


def test_the_hot_path_echoes_a_given_request_id_and_never_a_hostile_one(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "cos-rid", COSINE)
    bind(client, writer, "rid-run", schedule="cos-rid")
    answered = client.get("/v1/runs/rid-run/lr?step=3", headers={"X-Request-ID": "trace.7:a"})
    assert (answered.status_code, answered.headers["x-request-id"]) == (200, "trace.7:a")
    refused = client.get("/v1/runs/no-such-run/lr?step=3", headers={"X-Request-ID": "trace-8"})
    assert (refused.status_code, refused.headers["x-request-id"]) == (404, "trace-8")
    hostile = client.get("/v1/runs/rid-run/lr?step=3", headers={"X-Request-ID": "a b"})
    assert "x-request-id" not in hostile.headers
    # With several, the first counts, as on every other route (and in the log line).
    two = [("X-Request-ID", "first"), ("X-Request-ID", "second")]
    assert client.get("/v1/runs/rid-run/lr?step=3", headers=two).headers["x-request-id"] == "first"
    bad_first = [("X-Request-ID", "a b"), ("X-Request-ID", "good")]
    assert "x-request-id" not in client.get("/v1/runs/rid-run/lr?step=3", headers=bad_first).headers


def test_every_request_is_one_json_log_line_naming_the_token_but_never_its_secret(
    client: TestClient, writer: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lrcast_server.requests")
    publish(client, writer, "cos", COSINE)
    bind(client, writer, "log-run", schedule="cos")
    client.get("/v1/runs/log-run/lr", params={"step": 3}, headers={"X-Request-ID": "rid-7"})
    client.get("/v1/runs/log-run", headers=writer)
    client.get("/v1/runs/log-run/lr", params={"step": 4}, headers=writer)
    lines = [JsonFormatter().format(r) for r in caplog.records]
    records = [json.loads(line) for line in lines]
    assert len(records) == 5
    assert {r["route"] for r in records} == {
        "/v1/schedules/{name}",
        "/v1/runs/{run}",
        "/v1/runs/{run}/lr",
    }
    hot, *_ = (r for r in records if r["route"] == "/v1/runs/{run}/lr")
    assert hot["request_id"] == "rid-7"
    assert hot["status"] == 200
    assert hot["method"] == "GET"
    assert hot["duration_ms"] >= 0
    assert hot["token"] is None  # an open read
    assert [r["token"] for r in records if r is not hot] == ["write-token"] * 4
    secret = writer["Authorization"].split()[1]
    assert all(secret not in line for line in lines)


def test_healthz_needs_nothing_and_readyz_is_503_without_the_database(
    client: TestClient, tmp_path: object
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    core = core_of(client)
    working = core.database
    core.database = Database(sa.create_engine("sqlite:////nonexistent-lrcast-dir/x/lrcast.db"))
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert client.get("/healthz").status_code == 200
    finally:
        core.database.dispose()
        core.database = working


def test_metrics_sum_every_worker_of_a_served_process(
    serve: Callable[..., Server],
) -> None:
    server = serve(workers=2, LRCAST_ADMIN_TOKEN=ADMIN)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.put("/v1/schedules/cos", json=COSINE, headers=headers).status_code == 201
        assert http.put("/v1/runs/w", json={"schedule": "cos"}, headers=headers).status_code == 201
        n = 60
        for step in range(n):
            # A new connection each time, so both workers answer some.
            assert httpx.get(f"{server.url}/v1/runs/w/lr?step={step}").status_code == 200
        totals = set()
        for _ in range(6):
            text = httpx.get(f"{server.url}/metrics").text
            totals.add(sample(text, "lrcast_http_requests_total", HOT, 'status="200"'))
    assert totals == {float(n)}
    assert server.log is not None
    logged = server.log.read_text()
    assert ADMIN not in logged
