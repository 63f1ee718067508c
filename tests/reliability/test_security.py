"""Every operation of the OpenAPI document against every kind of bad credential.

Three in-process apps (no socket bound): on loopback (reads open), bound beyond loopback (reads
need a token) and beyond loopback started insecure (reads open again). Each is seeded with a
schedule and a run by an admin token, then every documented operation is called with no token,
malformed tokens, a revoked token and a token of too low a role. Writes must always be refused
with a 401/403 problem; reads open or refused as the binding says. No refusal body and no log
record may ever carry a token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lrcast_server import Settings, create_app
from lrcast_server.auth import Role, create_token, revoke_token
from lrcast_server.core import Core

pytestmark = pytest.mark.reliability

SCHEDULE = "sec-schedule"
RUN = "sec-run"
DOCUMENT = {"curves": {"lr": {"type": "cosine", "start": 0.1, "end": 0.0, "steps": 100}}}
PROBLEM = "application/problem+json"

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/v1/schedules/{name}"): DOCUMENT,
    ("PUT", "/v1/runs/{run}"): {"schedule": SCHEDULE},
    ("PATCH", "/v1/runs/{run}"): {"scale": 0.5},
    ("POST", "/v1/runs/{run}/metrics"): {"step": 1, "name": "loss", "value": 1.0},
    ("POST", "/v1/evaluate"): {"document": DOCUMENT, "stop": 2},
}
"""A minimal valid body for every operation that takes one."""

QUERIES: dict[tuple[str, str], list[str]] = {
    # ``?step=`` first is the hot path (answered before routing); the range goes through routing.
    ("GET", "/v1/runs/{run}/lr"): ["step=1", "start=0&stop=2"],
    ("GET", "/v1/runs/{run}/lease"): ["step=0"],
    ("GET", "/v1/schedules/{name}/lr"): ["step=1"],
}
PATH_VALUES = {"name": SCHEDULE, "run": RUN, "version": "1"}

ADMIN_ONLY = {("DELETE", "/v1/schedules/{name}"), ("GET", "/v1/audit")}
"""Operations that take the ``Admin`` dependency in ``api.py``; every other write takes
``Writer`` and every other read ``Reader``."""

READ_METHODS = {"GET", "HEAD"}
READ_POSTS = {"/v1/evaluate"}
"""POSTs that only compute (documented as reads: the token is optional on loopback)."""


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    url: str
    body: dict[str, Any] | None
    public: bool  # no security in the document (health and metrics)
    role: Role

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}"


@dataclass
class Server:
    client: TestClient
    core: Core
    tokens: dict[str, str]  # admin, write, read, revoked: the raw token text

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def operations(app: FastAPI) -> list[Operation]:
    """Every operation of the app's OpenAPI document, with its path filled and a valid body."""
    found: list[Operation] = []
    for template, item in app.openapi()["paths"].items():
        for method_lower, spec in item.items():
            method = method_lower.upper()
            key = (method, template)
            url = re.sub(r"\{([^/}]+)\}", lambda m: PATH_VALUES[m.group(1)], template)
            if key in ADMIN_ONLY:
                role = Role.admin
            elif method in READ_METHODS or template in READ_POSTS:
                role = Role.read
            else:
                role = Role.write
            public = not spec.get("security")
            for query in QUERIES.get(key, [""]):
                found.append(
                    Operation(
                        method=method,
                        template=template,
                        url=f"{url}?{query}" if query else url,
                        body=BODIES.get(key),
                        public=public,
                        role=role,
                    )
                )
    return found


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def start(**settings: Any) -> Server:
        data_dir = tmp_path / f"data-{len(clients)}"
        data_dir.mkdir()
        app = create_app(Settings(data_dir=data_dir, **settings))
        client = TestClient(app, base_url="http://lrcast.test")
        client.__enter__()
        clients.append(client)
        core: Core = app.state.core
        tokens = {
            role.name: create_token(core.database, f"sec-{role.name}", role)
            for role in (Role.admin, Role.write, Role.read)
        }
        tokens["revoked"] = create_token(core.database, "sec-revoked", Role.admin)
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        core.tokens.refresh()
        for method, url, body in [
            ("PUT", f"/v1/schedules/{SCHEDULE}", DOCUMENT),
            ("PUT", f"/v1/runs/{RUN}", {"schedule": SCHEDULE}),
            ("POST", f"/v1/runs/{RUN}/metrics", {"step": 1, "name": "loss", "value": 1.0}),
        ]:
            response = client.request(method, url, json=body, headers=admin)
            assert response.status_code in (200, 201, 202, 204), response.text
        # The revoked token worked once, then is revoked.
        revoked = {"Authorization": f"Bearer {tokens['revoked']}"}
        assert client.get("/v1/audit", headers=revoked).status_code == 200
        revoke_token(core.database, "sec-revoked")
        core.tokens.refresh()
        return Server(client, core, tokens)

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def credentials(server: Server) -> dict[str, dict[str, str] | None]:
    """Each kind of credential by name (None: no Authorization header at all)."""
    return {
        "none": None,
        "empty": {"Authorization": ""},
        "bearer-x": {"Authorization": "Bearer x"},
        "bearer-blank": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
        "no-scheme": {"Authorization": server.tokens["admin"]},
        "basic-real": {"Authorization": f"Basic {server.tokens['admin']}"},
        "revoked": server.bearer("revoked"),
        "read": server.bearer("read"),
        "write": server.bearer("write"),
    }


ABSENT = {"none", "empty"}
"""An empty Authorization header counts as none (it carries no credential)."""


def expected(op: Operation, credential: str, reads_open: bool) -> int | None:
    """The refusal status expected, or None when the request must be let through."""
    if op.public:
        return None
    if credential in ABSENT:
        if op.role == Role.read and reads_open:
            return None
        return 401
    if credential in ("read", "write"):
        return None if Role[credential] >= op.role else 403
    return 401  # malformed, unknown or revoked: refused whatever the binding


def sent(op: Operation, credential: str) -> bool:
    """Whether to send it: never a credential that could make a write succeed (the state the
    matrix relies on would change)."""
    return not (credential in ("read", "write") and Role[credential] >= op.role > Role.read)


def request(server: Server, op: Operation, headers: dict[str, str] | None) -> Any:
    # Any: TestClient's response type comes from httpx2 in this environment, not httpx.
    return server.client.request(op.method, op.url, json=op.body, headers=headers)


def check_matrix(server: Server, reads_open: bool, label: str) -> None:
    ops = operations(server.client.app)  # type: ignore[arg-type]
    creds = credentials(server)
    failures: list[str] = []
    checked = refused = 0
    for op in ops:
        for name, headers in creds.items():
            if not sent(op, name):
                continue
            checked += 1
            response = request(server, op, headers)
            want = expected(op, name, reads_open)
            where = f"{op.id} [{name}]"
            if want is None:
                if not 200 <= response.status_code < 300:
                    failures.append(f"{where}: {response.status_code}, want 2xx: {response.text}")
                continue
            refused += 1
            if response.status_code != want:
                failures.append(f"{where}: {response.status_code}, want {want}: {response.text}")
            if response.headers.get("content-type") != PROBLEM:
                failures.append(f"{where}: content-type {response.headers.get('content-type')}")
            else:
                problem = response.json()
                if problem.get("status") != response.status_code or not problem.get("detail"):
                    failures.append(f"{where}: not a problem document: {problem}")
            if response.status_code == 401 and not response.headers.get(
                "www-authenticate", ""
            ).startswith("Bearer"):
                failures.append(f"{where}: 401 without 'WWW-Authenticate: Bearer'")
            for secret in server.tokens.values():
                if secret in response.text or secret in str(response.headers):
                    failures.append(f"{where}: the response carries a token")
    print(
        f"\n{label}: {len(ops)} operations x {len(creds)} credentials: "
        f"{checked} requests, {refused} refusals, {len(failures)} failures"
    )
    assert not failures, "\n".join(failures)


def test_every_operation_is_covered(make_server: Any) -> None:
    """The document lists the writes and admin operations this suite assumes, and every one of
    them is reachable with the path values and bodies above (the admin token gets through)."""
    server = make_server()
    ops = operations(server.client.app)
    keys = {(op.method, op.template) for op in ops}
    assert keys >= ADMIN_ONLY
    assert keys >= set(BODIES)
    writes = {(op.method, op.template) for op in ops if op.role > Role.read}
    assert {("PUT", "/v1/schedules/{name}"), ("DELETE", "/v1/runs/{run}")} <= writes
    # Every secured operation documents the token scheme; only health ones are public.
    assert {op.template for op in ops if op.public} == {"/healthz", "/readyz", "/metrics"}
    # Reads let the admin through on every documented operation (path values and queries valid).
    admin = server.bearer("admin")
    for op in ops:
        if op.method == "GET" or op.template in READ_POSTS:
            response = request(server, op, admin)
            assert response.status_code == 200, f"{op.id}: {response.text}"


def test_on_loopback_reads_are_open_and_writes_refused(make_server: Any) -> None:
    check_matrix(make_server(), reads_open=True, label="loopback")


def test_beyond_loopback_everything_needs_a_token(make_server: Any) -> None:
    check_matrix(make_server(host="0.0.0.0"), reads_open=False, label="0.0.0.0")


def test_insecure_opens_reads_but_never_writes(make_server: Any) -> None:
    check_matrix(make_server(host="0.0.0.0", insecure=True), reads_open=True, label="insecure")


def test_tokens_never_reach_the_logs(make_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = make_server(host="0.0.0.0")
    ops = operations(server.client.app)
    with caplog.at_level(logging.DEBUG):
        for name in ("admin", "read", "revoked"):
            headers = server.bearer(name)
            for op in ops:
                if op.role == Role.read or op.method == "GET":
                    request(server, op, headers)
            # A write refused for the role, and one refused for the revoked token.
            request(server, next(op for op in ops if op.role == Role.write), headers)
        # Tokens sent with the wrong scheme, or none at all.
        for op in ops[:3]:
            request(server, op, {"Authorization": server.tokens["write"]})
            request(server, op, {"Authorization": f"Basic {server.tokens['write']}"})
    # The request log must have been captured, or the check would prove nothing.
    assert any(record.name == "lrcast_server.requests" for record in caplog.records)
    leaks = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        for secret in server.tokens.values()
        if secret in record.getMessage() or secret in repr(vars(record))
    ]
    assert not leaks, leaks
    assert not any(secret in caplog.text for secret in server.tokens.values())
    print(f"\nlogs: {len(caplog.records)} records checked for {len(server.tokens)} tokens")
