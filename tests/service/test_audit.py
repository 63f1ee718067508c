"""The audit trail: every write that changes something says who, what and when."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from lrcast_server import Settings, cli
from lrcast_server.auth import Role, create_token, revoke_token, seed_admin_token
from lrcast_server.db import Database, migrate
from lrcast_server.errors import InvalidRequestError
from tests.service.helpers import CONSTANT, assert_problem, bind, core_of, make_client, publish

ADMIN_TOKEN = "seeded-admin-token-0123456789"
NEW_ADMIN_TOKEN = "another-admin-token-987654"


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
        ("token.create", "token/write-token", "cli"),
        ("token.create", "token/admin-token", "cli"),
        ("schedule.publish", "schedule/const", "write-token"),
        ("run.bind", "run/r", "write-token"),
        ("run.patch", "run/r", "write-token"),
        ("run.plateau_reduce", "run/r", "write-token"),
        ("run.archive", "run/r", "write-token"),
        ("schedule.archive", "schedule/const", "admin-token"),
    ]
    assert entries[4]["detail"] == {"changes": {"scale": 0.5}, "effective_step": 1}
    assert entries[5]["detail"]["effective_step"] == 2
    assert entries[5]["detail"]["reduction"] == 0.1
    for entry in entries:
        assert (
            start
            <= datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))
            <= datetime.now(timezone.utc)
        )


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
    assert seen == ["token/write-token", "token/admin-token", *(f"schedule/s{i}" for i in range(5))]
    only = client.get("/v1/audit", params={"target": "schedule/s3"}, headers=admin).json()
    assert [e["target"] for e in only["items"]] == ["schedule/s3"]


def test_reading_the_audit_trail_needs_the_admin_role(
    client: TestClient, writer: dict[str, str], reader: dict[str, str]
) -> None:
    assert_problem(client.get("/v1/audit"), 401)
    assert_problem(client.get("/v1/audit", headers=reader), 403)
    assert_problem(client.get("/v1/audit", headers=writer), 403)


# -- token management ------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_entries(client: TestClient, headers: dict[str, str], name: str) -> list[dict[str, Any]]:
    response = client.get("/v1/audit", params={"target": f"token/{name}"}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def assert_never_shown(token: str, *texts: str) -> None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    for text in texts:
        assert token not in text
        assert digest not in text


def test_token_cli_records_creation_and_revocation_once_with_the_role_and_never_the_token(
    settings: Settings,
    client: TestClient,
    admin: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CLI finds the server's database in the environment (restored after the test).
    monkeypatch.setenv("LRCAST_DATABASE_URL", settings.resolved_database_url)
    caplog.set_level(logging.DEBUG, logger="lrcast_server")
    assert cli.main(["token", "create", "--name", "ci", "--role", "write"]) == 0
    created = capsys.readouterr()
    value = created.out.strip()
    assert created.out == f"{value}\n"  # shown once, on stdout, and nowhere else
    assert cli.main(["token", "revoke", "ci"]) == 0
    assert cli.main(["token", "revoke", "ci"]) == 0  # already revoked: nothing recorded

    entries = token_entries(client, admin, "ci")
    assert [(e["action"], e["actor"], e["detail"]) for e in entries] == [
        ("token.create", "cli", {"role": "write"}),
        ("token.revoke", "cli", {}),
    ]
    rest = capsys.readouterr()
    assert_never_shown(value, json.dumps(entries), created.err, rest.out, rest.err, caplog.text)


@pytest.mark.parametrize("name", ["cli", "env"])
def test_no_token_may_take_the_name_of_a_local_actor(client: TestClient, name: str) -> None:
    with pytest.raises(InvalidRequestError, match="reserved"):
        create_token(core_of(client).database, name, Role.read)


@pytest.mark.parametrize("name", ["", " ", "a\tb\nc", "x" * 129, "-lead", "two words", "naïve"])
def test_a_token_name_is_one_printable_word(client: TestClient, name: str) -> None:
    with pytest.raises(InvalidRequestError, match="not a token name"):
        create_token(core_of(client).database, name, Role.read)


@pytest.mark.parametrize("name", ["ci-bot", "alice@example.com", "trainer_7.prod", "x" * 128])
def test_usual_token_names_are_accepted(client: TestClient, name: str) -> None:
    assert create_token(core_of(client).database, name, Role.read)


def test_seeding_the_admin_token_is_recorded_by_env_only_when_it_changes(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="lrcast_server")
    first = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    second = settings.model_copy(update={"admin_token": SecretStr(NEW_ADMIN_TOKEN)})
    for start, token in [(first, ADMIN_TOKEN), (first, ADMIN_TOKEN), (second, NEW_ADMIN_TOKEN)]:
        for client in make_client(start):  # every start seeds; the second changes nothing
            entries = token_entries(client, bearer(token), "env-admin")

    assert [(e["action"], e["actor"], e["detail"]) for e in entries] == [
        ("token.seed", "env", {"role": "admin"}),
        ("token.seed", "env", {"role": "admin"}),
    ]
    for token in (ADMIN_TOKEN, NEW_ADMIN_TOKEN):
        assert_never_shown(token, json.dumps(entries), caplog.text)


def test_seeding_a_revoked_admin_token_revives_it_and_is_recorded(settings: Settings) -> None:
    seeded = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    for client in make_client(seeded):
        revoke_token(core_of(client).database, "env-admin")
    for client in make_client(seeded):
        entries = token_entries(client, bearer(ADMIN_TOKEN), "env-admin")
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("token.seed", "env"),
        ("token.revoke", "cli"),
        ("token.seed", "env"),
    ]


def test_processes_seeding_at_the_same_moment_record_each_change_once(settings: Settings) -> None:
    database = Database.from_url(settings.resolved_database_url)
    workers = 8
    barrier = threading.Barrier(workers)

    def seed(token: str) -> None:
        barrier.wait()
        seed_admin_token(database, token)

    try:
        migrate(database)
        for token in (ADMIN_TOKEN, NEW_ADMIN_TOKEN):  # first an insert, then an update
            with ThreadPoolExecutor(workers) as pool:
                for future in [pool.submit(seed, token) for _ in range(workers)]:
                    future.result()
    finally:
        database.dispose()

    for client in make_client(settings):
        entries = token_entries(client, bearer(NEW_ADMIN_TOKEN), "env-admin")
    assert [e["action"] for e in entries] == ["token.seed", "token.seed"]
