"""Bearer tokens, roles, open reads on loopback only, and the token CLI."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from lrcast_server import Settings, cli
from lrcast_server.auth import Role, revoke_token
from lrcast_server.settings import is_loopback
from lrcast_server.tables import tokens
from tests.service.helpers import COSINE, assert_problem, core_of, make_client, publish, token

ADMIN_TOKEN = "seeded-admin-token-0123456789"


@pytest.fixture
def exposed(tmp_path: Path) -> Iterator[TestClient]:
    """A server bound beyond loopback."""
    yield from make_client(Settings(data_dir=tmp_path, host="0.0.0.0"))


def test_writes_need_a_token(client: TestClient) -> None:
    problem = assert_problem(client.put("/v1/schedules/s", json=COSINE), 401)
    assert "token" in problem["detail"]
    response = client.put("/v1/schedules/s", json=COSINE)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(client.put("/v1/runs/r", json={"schedule": "s"}), 401)
    assert_problem(client.patch("/v1/runs/r", json={"scale": 1}), 401)
    assert_problem(client.delete("/v1/runs/r"), 401)
    assert_problem(client.delete("/v1/schedules/s"), 401)


def test_reads_are_open_on_loopback(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "s", COSINE)
    assert client.get("/v1/schedules/s").status_code == 200
    assert client.post("/v1/evaluate", json={"document": COSINE, "stop": 2}).status_code == 200


def test_a_read_token_cannot_write(client: TestClient, reader: dict[str, str]) -> None:
    assert_problem(client.put("/v1/schedules/s", json=COSINE, headers=reader), 403)


def test_unknown_malformed_and_revoked_tokens_are_refused(client: TestClient) -> None:
    headers = token(client, Role.write, "soon-revoked")
    assert_problem(client.get("/v1/schedules", headers={"Authorization": "Bearer lrc_nope"}), 401)
    assert_problem(client.get("/v1/schedules", headers={"Authorization": "Basic abc"}), 401)
    assert_problem(client.get("/v1/runs/r/lr?step=1", headers={"Authorization": "lrc_x"}), 401)
    core = core_of(client)
    revoke_token(core.database, "soon-revoked")
    core.tokens.refresh()
    assert_problem(client.put("/v1/schedules/s", json=COSINE, headers=headers), 401)


def test_tokens_are_stored_only_as_hashes(client: TestClient) -> None:
    headers = token(client, Role.read, "hashed")
    value = headers["Authorization"].removeprefix("Bearer ")
    assert value.startswith("lrc_")
    with core_of(client).database.read() as conn:
        row = conn.execute(sa.select(tokens).where(tokens.c.name == "hashed")).one()
    assert row.hash == hashlib.sha256(value.encode()).hexdigest()
    assert value not in str(tuple(row))


def test_a_server_beyond_loopback_needs_tokens_for_reads(exposed: TestClient) -> None:
    writer = token(exposed, Role.write)
    reader = token(exposed, Role.read)
    publish(exposed, writer, "s", COSINE)
    exposed.put("/v1/runs/r", json={"schedule": "s"}, headers=writer)
    assert_problem(exposed.get("/v1/schedules/s"), 401)
    assert_problem(exposed.get("/v1/runs/r/lr?step=3"), 401)
    assert_problem(exposed.post("/v1/evaluate", json={"document": COSINE, "stop": 2}), 401)
    assert exposed.get("/v1/schedules/s", headers=reader).status_code == 200
    assert exposed.get("/v1/runs/r/lr?step=3", headers=reader).status_code == 200
    assert exposed.get("/healthz").status_code == 200


def test_beyond_loopback_only_paths_that_hold_no_schedule_or_run_are_open(
    exposed: TestClient,
) -> None:
    writer = token(exposed, Role.write)
    publish(exposed, writer, "secret-schedule", COSINE)
    exposed.put("/v1/runs/secret-run", json={"schedule": "secret-schedule"}, headers=writer)
    exposed.get("/v1/runs/secret-run/lr?step=3", headers=writer)
    page = exposed.get("/")
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert assets
    for path in ["/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json"]:
        response = exposed.get(path)
        assert response.status_code == 200, path
        assert "secret" not in response.text, path
    for path in assets:
        assert exposed.get(path).status_code == 200, path
    for path in ["/v1/schedules", "/v1/runs", "/v1/runs/secret-run/metrics", "/v1/audit"]:
        assert_problem(exposed.get(path), 401)


def test_insecure_opens_reads_beyond_loopback_but_never_writes(tmp_path: Path) -> None:
    for client in make_client(Settings(data_dir=tmp_path, host="0.0.0.0", insecure=True)):
        assert client.get("/v1/schedules").status_code == 200
        assert_problem(client.put("/v1/schedules/s", json=COSINE), 401)


def test_admin_token_is_seeded_from_the_environment(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN)  # type: ignore[arg-type]
    for client in make_client(settings):
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        publish(client, headers, "s", COSINE)
        assert client.delete("/v1/schedules/s", headers=headers).status_code == 204
    # Starting again with the same token is a no-op; with another, the old one stops working.
    for client in make_client(settings):
        assert client.put("/v1/schedules/s", json=COSINE, headers=headers).status_code == 201
    other = Settings(data_dir=tmp_path, admin_token="another-admin-token-987654")  # type: ignore[arg-type]
    for client in make_client(other):
        assert_problem(client.put("/v1/schedules/t", json=COSINE, headers=headers), 401)


def test_a_short_admin_token_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="16 characters"):
        Settings(admin_token="short")  # type: ignore[arg-type]
    monkeypatch.setenv("LRCAST_ADMIN_TOKEN", "short")
    assert cli.main(["token", "list"]) == 2
    said = capsys.readouterr().err
    assert said == (
        "lrcast-server: bad settings:\n  LRCAST_ADMIN_TOKEN: must be at least 16 characters\n"
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_token_cli_creates_lists_and_revokes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRCAST_DATA_DIR", str(tmp_path))  # the CLI sets it: undone after
    base = ["--data-dir", str(tmp_path)]
    assert cli.main([*base, "token", "create", "--name", "ci", "--role", "write"]) == 0
    said = capsys.readouterr()
    value = said.out.strip()
    assert value.startswith("lrc_")
    # Where it went, on stderr (TOKEN=$(...) takes stdout alone).
    assert f"stored in sqlite:///{tmp_path / 'lrcast.db'}" in said.err
    assert cli.main([*base, "token", "create", "--name", "ci", "--role", "read"]) == 1
    assert "exists" in capsys.readouterr().err
    assert cli.main([*base, "token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ci\twrite" in listing
    assert value not in listing
    assert cli.main([*base, "token", "revoke", "ci"]) == 0
    assert cli.main([*base, "token", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert cli.main([*base, "token", "revoke", "nobody"]) == 1
    for client in make_client(Settings(data_dir=tmp_path)):
        assert_problem(
            client.put(
                "/v1/schedules/s", json=COSINE, headers={"Authorization": f"Bearer {value}"}
            ),
            401,
        )
