"""The audit trail: every write that changes something says who, what and when."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from tests.service.helpers import CONSTANT, assert_problem, bind, publish


def test_writes_are_recorded_with_the_token_name_action_target_and_time(
    client: TestClient, writer: dict[str, str], admin: dict[str, str]
) -> None:
    start = datetime.now(timezone.utc) - timedelta(seconds=1)
    publish(client, writer, "const", CONSTANT)
    publish(client, writer, "const", CONSTANT)  # the same document: no change, no entry
    bind(client, writer, "r", schedule="const", block=1, plateau={"metric": "loss", "patience": 0})
    bind(client, writer, "r", schedule="const", block=1, plateau={"metric": "loss", "patience": 0})
    client.get("/v1/runs/r/lr", params={"step": 0})
    client.patch("/v1/runs/r", json={"scale": 0.5}, headers=writer)
    for step, value in enumerate([1.0, 2.0]):
        client.post(
            "/v1/runs/r/metrics",
            json={"step": step, "name": "loss", "value": value},
            headers=writer,
        )
    assert client.delete("/v1/runs/r", headers=writer).status_code == 204
    assert client.delete("/v1/schedules/const", headers=admin).status_code == 204

    entries = client.get("/v1/audit", headers=admin).json()["items"]
    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("schedule.publish", "schedule/const", "write-token"),
        ("run.bind", "run/r", "write-token"),
        ("run.patch", "run/r", "write-token"),
        ("run.plateau_reduce", "run/r", "write-token"),
        ("run.archive", "run/r", "write-token"),
        ("schedule.archive", "schedule/const", "admin-token"),
    ]
    assert entries[2]["detail"] == {"changes": {"scale": 0.5}, "effective_step": 1}
    assert entries[3]["detail"]["effective_step"] == 2
    assert entries[3]["detail"]["reduction"] == 0.1
    for entry in entries:
        assert start <= datetime.fromisoformat(entry["at"]) <= datetime.now(timezone.utc)


def test_the_audit_trail_is_paginated_and_filtered(
    client: TestClient, writer: dict[str, str], admin: dict[str, str]
) -> None:
    for i in range(5):
        publish(client, writer, f"s{i}", CONSTANT)
    seen = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/v1/audit", params=params, headers=admin).json()
        seen += [e["target"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"schedule/s{i}" for i in range(5)]
    only = client.get("/v1/audit", params={"target": "schedule/s3"}, headers=admin).json()
    assert [e["target"] for e in only["items"]] == ["schedule/s3"]


def test_reading_the_audit_trail_needs_the_admin_role(
    client: TestClient, writer: dict[str, str], reader: dict[str, str]
) -> None:
    assert_problem(client.get("/v1/audit"), 401)
    assert_problem(client.get("/v1/audit", headers=reader), 403)
    assert_problem(client.get("/v1/audit", headers=writer), 403)
