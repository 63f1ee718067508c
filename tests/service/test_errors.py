"""Every error is problem+json; no input produces a 500."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import lrcast
from lrcast_server import Settings, db
from lrcast_server.auth import Role
from lrcast_server.errors import LrcastServerError, problem_type
from tests.service.helpers import (
    CONSTANT,
    COSINE,
    assert_problem,
    bind,
    core_of,
    make_client,
    publish,
    token,
)


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    """A server accepting bodies of 2 KiB at most."""
    yield from make_client(Settings(data_dir=tmp_path, max_body_bytes=2048))


def big_document() -> bytes:
    return b'{"description": "' + b"x" * 4000 + b'", "curves": {}}'


def test_body_over_the_limit_with_content_length_is_413(small: TestClient) -> None:
    response = small.put(
        "/v1/schedules/s",
        content=big_document(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
    )
    assert_problem(response, 413)


def test_chunked_body_over_the_limit_is_413(small: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        body = big_document()
        for i in range(0, len(body), 500):
            yield body[i : i + 500]

    response = small.put(
        "/v1/schedules/s", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


def test_a_body_that_is_not_json_is_415(client: TestClient, writer: dict[str, str]) -> None:
    response = client.put(
        "/v1/schedules/s", content=b"curves: {}", headers={**writer, "Content-Type": "text/yaml"}
    )
    assert_problem(response, 415)
    response = client.put("/v1/schedules/s", content=b"{}", headers=writer)
    assert_problem(response, 415)


def test_malformed_json_is_422(client: TestClient, writer: dict[str, str]) -> None:
    response = client.put(
        "/v1/schedules/s",
        content=b'{"curves": ',
        headers={**writer, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422, "")
    assert "JSON" in problem["detail"]


def test_a_missing_body_is_422(client: TestClient, writer: dict[str, str]) -> None:
    problem = assert_problem(client.put("/v1/schedules/s", headers=writer), 422, "")
    assert "body" in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [[], "text", 5, None, {"curves": []}, {"curves": {"lr": None}}, {"curves": {"lr": 1.0}}],
)
def test_wrong_json_shapes_are_422(
    client: TestClient, writer: dict[str, str], body: object
) -> None:
    response = client.put("/v1/schedules/s", json=body, headers=writer)
    assert_problem(response, 422)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400"])
def test_non_finite_numbers_are_422(client: TestClient, writer: dict[str, str], value: str) -> None:
    body = '{"curves": {"lr": {"type": "constant", "value": VALUE}}}'.replace("VALUE", value)
    response = client.put(
        "/v1/schedules/s",
        content=body.encode(),
        headers={**writer, "Content-Type": "application/json"},
    )
    assert_problem(response, 422)


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v2/anything"), 404)
    not_allowed = client.post("/v1/runs/r/lr")
    assert_problem(not_allowed, 405)
    assert not_allowed.headers["allow"] == "GET, HEAD"
    options = client.options("/v1/runs/r")
    assert_problem(options, 405)
    assert options.headers["allow"] == "DELETE, GET, HEAD, PATCH, PUT"
    assert_problem(client.get("/v1/runs/a/b/lr?step=1"), 404)


def test_unicode_and_overlong_ids_are_refused(client: TestClient, writer: dict[str, str]) -> None:
    assert_problem(client.get("/v1/runs/%C3%A9t%C3%A9/lr?step=1"), 422, "run")
    assert_problem(client.get(f"/v1/runs/{'a' * 201}/lr?step=1"), 422, "run")
    assert_problem(
        client.put(f"/v1/runs/{'a' * 201}", json={"schedule": "s"}, headers=writer), 422, "run"
    )


def test_extreme_numbers_in_run_settings_are_422(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "s", COSINE)
    for body in (
        {"schedule": "s", "offset": 2**63},
        {"schedule": "s", "block": True},
        {"schedule": "s", "version": "newest"},
        {"schedule": "s", "total_steps": 2**60},
        {"schedule": "s", "version": 2**31},
        {"schedule": "s", "version": 2**70},
    ):
        assert_problem(client.put("/v1/runs/r", json=body, headers=writer), 422)
    bind(client, writer, "r", schedule="s")
    too_new = client.patch("/v1/runs/r", json={"schedule": "s", "version": 2**70}, headers=writer)
    assert_problem(too_new, 422, "version")
    restarts = {"type": "cosine_restarts", "start": 0.1, "period": 10, "cycles": 2**70}
    response = client.put("/v1/schedules/s2", json={"curves": {"lr": restarts}}, headers=writer)
    assert_problem(response, 422, "curves.lr.cycles")
    response = client.put(
        "/v1/runs/r",
        content=b'{"schedule": "s", "scale": 1e309}',
        headers={**writer, "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "scale")


def test_cursors_past_their_column_are_422_and_the_largest_reads_an_empty_page(
    client: TestClient, writer: dict[str, str], admin: dict[str, str]
) -> None:
    publish(client, writer, "s", COSINE)
    for path, largest in (("/v1/audit", 2**63 - 1), ("/v1/schedules/s/versions", 2**31 - 1)):
        too_large = client.get(path, params={"cursor": largest + 1}, headers=admin)
        assert_problem(too_large, 422, "cursor")
        page = client.get(path, params={"cursor": largest}, headers=admin)
        assert page.status_code == 200, page.text
        assert page.json()["items"] == []
        assert_problem(client.get(path, params={"cursor": 10**25}, headers=admin), 422, "cursor")


def test_an_offset_pushing_steps_past_the_largest_is_clipped_not_an_error(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "s", COSINE)
    bind(client, writer, "r", schedule="s", offset=2**53 - 1)
    response = client.get("/v1/runs/r/lr", params={"step": 2**53 - 1})
    assert response.status_code == 200
    assert response.json()["lr"] == 0.0


def test_readiness_fails_with_503_when_the_database_is_unreachable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}
    core = core_of(client)

    def unreachable() -> None:
        raise OSError("no database")

    monkeypatch.setattr(core.database, "ping", unreachable)
    assert_problem(client.get("/readyz"), 503)
    assert client.get("/healthz").status_code == 200


def test_nul_characters_in_query_parameters_are_422_naming_the_parameter(
    client: TestClient, writer: dict[str, str], admin: dict[str, str]
) -> None:
    # PostgreSQL cannot store or compare text holding NUL: refused alike on every database.
    publish(client, writer, "s", COSINE)
    for path, name in (
        ("/v1/audit?target=a%00b", "target"),
        ("/v1/audit?actor=%00", "actor"),
        ("/v1/schedules?cursor=s%00", "cursor"),
        ("/v1/runs?schedule=s%00", "schedule"),
    ):
        assert_problem(client.get(path, headers=admin), 422, name)


def test_edits_past_the_largest_step_are_refused_and_publishing_passes_over_finished_runs(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "s", COSINE)
    bind(client, writer, "early", schedule="s")
    last_block = lrcast.MAX_STEP // 256 * 256
    # An edit takes effect at a block boundary: the last one is the last block's start.
    past = {"scale": 2.0, "at_step": last_block + 1}
    assert_problem(client.patch("/v1/runs/early", json=past, headers=writer), 422, "at_step")
    last = client.patch("/v1/runs/early", json={**past, "at_step": last_block}, headers=writer)
    assert last.status_code == 200, last.text
    assert last.json()["effective_step"] == last_block
    # A run committed up to the largest step has nothing left to edit or switch.
    bind(client, writer, "done", schedule="s")
    assert client.get(f"/v1/runs/done/lr?step={lrcast.MAX_STEP}").status_code == 200
    assert_problem(client.patch("/v1/runs/done", json={"scale": 2.0}, headers=writer), 409)
    published = client.put("/v1/schedules/s", json=CONSTANT, headers=writer)
    assert published.status_code == 201, published.text
    assert [r["run"] for r in published.json()["runs"]] == ["early"]
    done = client.get("/v1/runs/done").json()
    assert all(s["from_step"] <= lrcast.MAX_STEP for s in done["timeline"])


def test_a_lease_stops_at_the_block_holding_the_largest_step(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "s", COSINE)
    bind(client, writer, "r", schedule="s", block=100)
    lease = client.get("/v1/runs/r/lease", params={"step": lrcast.MAX_STEP, "blocks": 4})
    assert lease.status_code == 200, lease.text
    last_block = lrcast.MAX_STEP // 100 * 100
    assert (lease.json()["from_step"], lease.json()["to_step"]) == (last_block, last_block + 100)
    assert client.get("/v1/runs/r").json()["horizon"] == last_block + 99


@pytest.mark.parametrize(
    "kind", [LrcastServerError, *LrcastServerError.__subclasses__()], ids=lambda k: k.__name__
)
def test_every_kind_of_problem_has_a_readable_title_and_type(kind: type[Exception]) -> None:
    title = getattr(kind, "title", "")
    assert title
    assert title != kind.__name__
    assert re.fullmatch(r"urn:lrcast:problem:[a-z]+(-[a-z]+)*", problem_type(title))


def test_a_sqlite_file_locked_by_another_process_is_a_503_once_the_busy_timeout_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    settings = Settings(data_dir=tmp_path)
    for client in make_client(settings):
        headers = token(client, Role.write)
        publish(client, headers, "s", COSINE)
        bind(client, headers, "r", schedule="s", block=16)
        holder = sqlite3.connect(tmp_path / "lrcast.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # as a backup tool or another program might
        try:
            asked = [
                ("PATCH", "/v1/runs/r", {"scale": 2.0}),
                ("POST", "/v1/runs/r/metrics", {"step": 1, "value": 1.0}),
            ]
            for method, path, body in asked:
                began = time.monotonic()
                response = client.request(method, path, json=body, headers=headers)
                # The busy timeout, then tries for 2 s at most (not 50 busy timeouts: 10 s).
                assert time.monotonic() - began < 8
                assert_problem(response, 503)
                assert response.headers["retry-after"] == "1"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.patch("/v1/runs/r", json={"scale": 2.0}, headers=headers).status_code == 200
