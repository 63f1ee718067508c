"""Hostile input: every request below gets a clear 4xx ``application/problem+json`` (never a
500) and leaves the stored state exactly as it was.

One in-process server (a temp SQLite file) is seeded with a schedule of two versions, a run with
a committed block and a metric report; each test snapshots every read that shows stored state
(schedules, versions, runs, the run, its metrics, the audit trail), sends its hostile requests,
checks each answer, and compares the snapshot. The real-socket 413 lives in
``tests/service/test_process.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

import lrcast
from lrcast._models import CURVE_NAME
from lrcast._schemas import (
    GROUP_NAME_PATTERN,
    METRIC_NAME_PATTERN,
    RUN_ID_PATTERN,
    SCHEDULE_NAME_PATTERN,
)
from lrcast_server import Settings
from lrcast_server.auth import Role
from tests.service.helpers import assert_problem, bind, make_client, publish, token

pytestmark = pytest.mark.reliability

SCHEDULE, RUN = "seeded", "seeded-run"
LIMIT = 1024 * 1024  # Settings.max_body_bytes, the default
JSON_TYPE = {"Content-Type": "application/json"}
COUNTS: Counter[str] = Counter()


class Api:
    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def snapshot(self) -> list[Any]:
        reads = [
            "/v1/schedules",
            f"/v1/schedules/{SCHEDULE}",
            f"/v1/schedules/{SCHEDULE}/versions",
            "/v1/runs?archived=true",
            f"/v1/runs/{RUN}",
            f"/v1/runs/{RUN}/metrics",
            "/v1/audit?limit=500",
        ]
        state = []
        for path in reads:
            response = self.client.get(path, headers=self.headers)
            assert response.status_code == 200, (path, response.text)
            state.append(response.json())
        return state

    def send(
        self,
        kind: str,
        method: str,
        url: str,
        statuses: tuple[int, ...] = (422,),
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One hostile request: a problem+json of one of ``statuses``."""
        response = self.client.request(
            method, url, headers={**self.headers, **(headers or {})}, **kwargs
        )
        assert response.status_code in statuses, (url, response.status_code, response.text)
        problem = assert_problem(response, response.status_code)
        COUNTS[kind] += 1
        return problem


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("hostile"))
    assert settings.max_body_bytes == LIMIT
    for client in make_client(settings):
        headers = token(client, Role.admin)
        publish(client, headers, SCHEDULE, {"curves": {"lr": {"type": "constant", "value": 0.1}}})
        lr = {"type": "cosine", "start": 0.1, "end": 0.0, "steps": 1000}
        publish(client, headers, SCHEDULE, {"curves": {"lr": lr}})
        bind(client, headers, RUN, schedule=SCHEDULE)
        assert client.get(f"/v1/runs/{RUN}/lr?step=0", headers=headers).status_code == 200
        metric = {"step": 0, "name": "loss", "value": 1.0}
        response = client.post(f"/v1/runs/{RUN}/metrics", json=metric, headers=headers)
        assert response.status_code == 201, response.text
        yield Api(client, headers)
    summary = ", ".join(f"{kind} {n}" for kind, n in sorted(COUNTS.items()))
    line = f"hostile: {sum(COUNTS.values())} requests refused, state unchanged ({summary})"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(f"\n{line}")
    else:
        with capture.global_and_fixture_disabled():
            print(f"\n{line}")


@pytest.fixture
def unchanged(api: Api) -> Iterator[Api]:
    """The api, checked to leave the stored state as it found it."""
    before = api.snapshot()
    yield api
    assert api.snapshot() == before


def curve_doc(lr: Any) -> dict[str, Any]:
    return {"curves": {"lr": lr}}


CONSTANT = {"type": "constant", "value": 0.1}


# -- oversized bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("PUT", f"/v1/schedules/{SCHEDULE}"),
        ("PUT", "/v1/schedules/fresh"),
        ("PATCH", f"/v1/runs/{RUN}"),
        ("POST", f"/v1/runs/{RUN}/metrics"),
        ("POST", "/v1/evaluate"),
    ],
)
def test_a_body_over_the_limit_with_content_length_is_413(
    unchanged: Api, method: str, url: str
) -> None:
    body = b'{"description": "' + b"x" * LIMIT + b'", "curves": {}}'
    unchanged.send("oversized", method, url, (413,), content=body, headers=JSON_TYPE)


def test_a_lying_content_length_is_refused(unchanged: Api) -> None:
    """A Content-Length over the limit is refused before reading, even with a small body."""
    body = json.dumps(curve_doc(CONSTANT)).encode()
    headers = {**JSON_TYPE, "Content-Length": str(LIMIT + 1)}
    unchanged.send(
        "oversized", "PUT", f"/v1/schedules/{SCHEDULE}", (413,), content=body, headers=headers
    )


def test_a_streamed_body_over_the_limit_is_413(unchanged: Api) -> None:
    """Many chunks and no Content-Length (ASGITransport hands the app one message a chunk)."""
    chunk = 64 * 1024
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"description": "'
        for _ in range(LIMIT // chunk + 2):
            sent += 1
            yield b"x" * chunk
        yield b'", "curves": {}}'

    async def put() -> httpx.Response:
        transport = httpx.ASGITransport(app=unchanged.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lrcast.test") as c:
            return await c.put(
                f"/v1/schedules/{SCHEDULE}",
                content=chunks(),
                headers={**unchanged.headers, **JSON_TYPE},
            )

    # A thread of its own: a session-wide Playwright browser (tests/dashboard) may hold the main
    # thread's event loop, where asyncio.run refuses to start another.
    with ThreadPoolExecutor(1) as pool:
        response = pool.submit(asyncio.run, put()).result()
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    COUNTS["oversized"] += 1


# -- deep and wide documents ------------------------------------------------------------------


def warmups(levels: int) -> dict[str, Any]:
    curve: dict[str, Any] = CONSTANT
    for _ in range(levels):
        curve = {"type": "warmup", "steps": 10, "then": curve}
    return curve


def test_curves_nested_past_the_depth_limit_are_422(unchanged: Api) -> None:
    assert lrcast.MAX_DEPTH == 8
    problem = unchanged.send("deep", "PUT", f"/v1/schedules/{SCHEDULE}", json=curve_doc(warmups(9)))
    assert "deeper than 8" in problem["detail"]
    problem = unchanged.send(
        "deep",
        "POST",
        "/v1/evaluate",
        json={"document": curve_doc(warmups(50)), "start": 0, "stop": 10},
    )
    assert "deeper than 8" in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a": ' * 10_000 + b"1" + b"}" * 10_000,
        b'{"curves": {"lr": ' + b'{"then": ' * 10_000 + b"1" + b"}" * 10_002,
        b'{"curves": {"lr": {"type": "multistep", "milestones": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}}}",
    ],
    ids=["lists", "objects", "then-objects", "lists-in-a-curve"],
)
def test_json_nested_10000_levels_is_a_clean_422(unchanged: Api, body: bytes) -> None:
    """Not a RecursionError (a 500) nor FastAPI's bare 400: the body cannot be decoded."""
    for url in (f"/v1/schedules/{SCHEDULE}", "/v1/evaluate"):
        method = "PUT" if url.startswith("/v1/schedules") else "POST"
        problem = unchanged.send("deep", method, url, content=body, headers=JSON_TYPE)
        assert "nested too deeply" in problem["detail"]


def test_too_many_curves_is_422(unchanged: Api) -> None:
    curves = {"lr": CONSTANT} | {f"c{i}": CONSTANT for i in range(299)}
    problem = unchanged.send("wide", "PUT", f"/v1/schedules/{SCHEDULE}", json={"curves": curves})
    assert [e["path"] for e in problem["errors"]] == ["curves"]
    assert "256" in problem["detail"]


def test_a_list_of_10001_entries_is_422(unchanged: Api) -> None:
    milestones = list(range(1, lrcast.MAX_LIST + 2))
    lr = {"type": "multistep", "start": 0.1, "milestones": milestones, "factor": 0.5}
    problem = unchanged.send("wide", "PUT", f"/v1/schedules/{SCHEDULE}", json=curve_doc(lr))
    assert [e["path"] for e in problem["errors"]] == ["curves.lr.milestones"]
    assert "10000" in problem["detail"]


def test_a_257_kib_document_is_422(unchanged: Api) -> None:
    points = [[100_000_000 + i, 0.123456789012345] for i in range(lrcast.MAX_LIST)]
    document = curve_doc({"type": "interpolate", "points": points})
    size = len(json.dumps(document))
    assert lrcast.MAX_DOCUMENT_BYTES < 257 * 1024 <= size < LIMIT
    problem = unchanged.send("wide", "PUT", f"/v1/schedules/{SCHEDULE}", json=document)
    assert f"larger than {lrcast.MAX_DOCUMENT_BYTES} bytes" in problem["detail"]


# -- huge step numbers ------------------------------------------------------------------------

STEPS = [str(2**53), str(2**63 - 1), str(2**63), str(2**64), "-1", "1e3", "abc", "1" * 5000]


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s[:20])
def test_a_bad_step_in_a_query_is_422(unchanged: Api, step: str) -> None:
    urls = [
        (f"/v1/runs/{RUN}/lr?step={step}", "step"),
        (f"/v1/runs/{RUN}/lease?step={step}", "step"),
        (f"/v1/runs/{RUN}/lease?step=0&blocks={step}", "blocks"),
        (f"/v1/runs/{RUN}/lr?start={step}&stop=10", "start"),
        (f"/v1/runs/{RUN}/lr?start=0&stop={step}", "stop"),
        (f"/v1/runs/{RUN}/lr?start=0&stop=10&every={step}", "every"),
        (f"/v1/schedules/{SCHEDULE}/lr?step={step}", "step"),
        (f"/v1/schedules/{SCHEDULE}/lr?start=0&stop={step}", "stop"),
        (f"/v1/schedules/{SCHEDULE}/lr?step=0&total_steps={step}", "total_steps"),
        (f"/v1/schedules/{SCHEDULE}/lr?step=0&version={step}", "version"),
        (f"/v1/schedules/{SCHEDULE}/versions/{step}", "version"),
    ]
    for url, field in urls:
        problem = unchanged.send("step", "GET", url)
        assert field in [e["path"] for e in problem["errors"]], (url, problem)


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s[:20])
def test_a_bad_step_in_a_body_is_422(unchanged: Api, step: str) -> None:
    # The raw JSON text, so 2**64 and 1e3 arrive as numbers, abc as invalid JSON.
    bodies = [
        ("PATCH", f"/v1/runs/{RUN}", f'{{"scale": 0.5, "at_step": {step}}}', "at_step"),
        (
            "POST",
            f"/v1/runs/{RUN}/metrics",
            f'{{"step": {step}, "name": "loss", "value": 2.0}}',
            "step",
        ),
        (
            "POST",
            "/v1/evaluate",
            f'{{"document": {json.dumps(curve_doc(CONSTANT))}, "start": 0, "stop": {step}}}',
            "stop",
        ),
    ]
    for method, url, body, field in bodies:
        problem = unchanged.send("step", method, url, content=body, headers=JSON_TYPE)
        paths = [e["path"] for e in problem["errors"]]
        # Text that is not a JSON number is named by the decoder at the root.
        assert paths == [field] or (paths == [""] and "JSON" in problem["detail"]), problem


# -- expressions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("__import__('os')", "'__import__' is not allowed"),
        ("__import__('os').system('true')", "not allowed"),
        ("t.__class__", "'.__class__' is not allowed"),
        ("().__class__.__bases__", "is not allowed"),
        ("[c for c in ().__class__.__bases__]", ""),
        ("lambda: 1", ""),
        ("open('/etc/passwd')", "not allowed"),
        ("exp(t) if t else t", ""),
        ("(" * 201 + "t" + ")" * 201, "nested parentheses"),
        ("t+" * 200 + "t", "deeper than 200"),
        ("t+" * 500 + "t", "1000 characters"),
        ("t\x00", ""),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_escaping_or_oversized_expressions_are_422_at_publish(
    unchanged: Api, expr: str, reason: str
) -> None:
    lr = {"type": "expression", "expr": expr}
    for method, url, body in (
        ("PUT", f"/v1/schedules/{SCHEDULE}", curve_doc(lr)),
        ("PUT", "/v1/schedules/fresh", curve_doc(lr)),
        ("POST", "/v1/evaluate", {"document": curve_doc(lr), "start": 0, "stop": 3}),
    ):
        problem = unchanged.send("expression", method, url, json=body)
        assert [e["path"] for e in problem["errors"]][-1].endswith("curves.lr.expr"), problem
        assert reason in problem["detail"]


def test_9_to_the_9_to_the_9_is_a_clean_422_naming_the_step(unchanged: Api) -> None:
    """Every number is a float64, so ``9**9**9`` is inf (no huge integer): a valid expression
    whose value is refused when evaluated, naming the step."""
    boom = curve_doc({"type": "expression", "expr": "9**9**9"})
    problem = unchanged.send(
        "expression", "POST", "/v1/evaluate", json={"document": boom, "start": 0, "stop": 10}
    )
    assert problem["title"] == "Cannot evaluate"
    assert "gives inf at step 0" in problem["detail"]
    late = curve_doc({"type": "expression", "expr": "10**t"})
    problem = unchanged.send(
        "expression", "POST", "/v1/evaluate", json={"document": late, "start": 300, "stop": 310}
    )
    assert "gives inf at step 309" in problem["detail"]


def test_an_expression_that_overflows_is_stored_but_commits_nothing(tmp_path: Path) -> None:
    """Publishing ``9**9**9`` is accepted (it parses); every evaluation of it is a 422 and no
    block is committed, so the run can still be moved to a good schedule."""
    for client in make_client(Settings(data_dir=tmp_path)):
        api = Api(client, token(client, Role.admin))
        publish(client, api.headers, "boom", curve_doc({"type": "expression", "expr": "9**9**9"}))
        bind(client, api.headers, "victim", schedule="boom")
        for url in (
            "/v1/schedules/boom/lr?step=5",
            "/v1/runs/victim/lr?step=5",
            "/v1/runs/victim/lease?step=5",
            "/v1/runs/victim/lr?start=0&stop=5",
        ):
            problem = api.send("expression", "GET", url)
            assert "gives inf at step" in problem["detail"]
        run = client.get("/v1/runs/victim", headers=api.headers).json()
        assert run["horizon"] == -1
        assert run["last_step_seen"] is None
        publish(client, api.headers, "good", curve_doc(CONSTANT))
        response = client.patch("/v1/runs/victim", json={"schedule": "good"}, headers=api.headers)
        assert response.status_code == 200, response.text
        response = client.get("/v1/runs/victim/lr?step=5", headers=api.headers)
        assert response.status_code == 200, response.text
        assert response.json()["lr"] == 0.1


# -- names ------------------------------------------------------------------------------------

BAD_NAMES = [
    "é",
    "a\x00b",
    "a\nb",
    "a/b",
    "a%2Fb",
    "../x",
    "..",
    "a" * 201,
    "a\u200fb",
    "\u202ex",
    "😀",
    "A",
    " a",
    "a b",
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:16])
def test_a_hostile_name_in_a_path_is_4xx(unchanged: Api, name: str) -> None:
    """422 (or 404 where the name is not one path segment: ``a/b``, ``../x``)."""
    path = quote(name, safe="/%")
    assert not re.fullmatch(RUN_ID_PATTERN, name)
    doc = curve_doc(CONSTANT)
    for method, url, body in (
        ("PUT", f"/v1/schedules/{path}", doc),
        ("PUT", f"/v1/schedules/{'b' * 129}", doc),
        ("PUT", f"/v1/runs/{path}", {"schedule": SCHEDULE}),
        ("PATCH", f"/v1/runs/{path}", {"scale": 0.5}),
        ("POST", f"/v1/runs/{path}/metrics", {"step": 1, "name": "loss", "value": 1.0}),
        ("DELETE", f"/v1/runs/{path}", None),
        ("DELETE", f"/v1/schedules/{path}", None),
        ("GET", f"/v1/runs/{path}/lr?step=1", None),
        ("GET", f"/v1/runs/{path}/lease?step=1", None),
    ):
        unchanged.send("name", method, url, (404, 422), json=body)


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:16])
def test_a_hostile_name_in_a_body_is_422(unchanged: Api, name: str) -> None:
    """Each name is tried where its field's pattern refuses it (metric names allow ``/``,
    group names capitals)."""
    cases = [
        (
            CURVE_NAME.pattern,
            ("PUT", f"/v1/schedules/{SCHEDULE}", {"curves": {"lr": CONSTANT, name: CONSTANT}}),
        ),
        (SCHEDULE_NAME_PATTERN, ("PUT", "/v1/runs/fresh-run", {"schedule": name})),
        (SCHEDULE_NAME_PATTERN, ("PATCH", f"/v1/runs/{RUN}", {"schedule": name})),
        (GROUP_NAME_PATTERN, ("PATCH", f"/v1/runs/{RUN}", {"groups": {name: 0.5}})),
        (
            METRIC_NAME_PATTERN,
            ("POST", f"/v1/runs/{RUN}/metrics", {"step": 1, "name": name, "value": 1.0}),
        ),
    ]
    hostile = [request for pattern, request in cases if not re.fullmatch(pattern, name)]
    assert hostile
    for method, url, body in hostile:
        problem = unchanged.send("name", method, url, json=body)
        assert problem["errors"], problem


# -- duplicate keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body", "key"),
    [
        (
            "PUT",
            f"/v1/schedules/{SCHEDULE}",
            '{"curves": {"lr": {"type": "constant", "value": 0.1},'
            ' "lr": {"type": "constant", "value": 0.2}}}',
            "lr",
        ),
        (
            "PUT",
            f"/v1/schedules/{SCHEDULE}",
            '{"curves": {"lr": {"type": "constant", "value": 0.1, "value": 0.3}}}',
            "value",
        ),
        (
            "PUT",
            f"/v1/schedules/{SCHEDULE}",
            '{"curves": {"lr": {"type": "constant", "value": 0.1}},'
            ' "curves": {"lr": {"type": "constant", "value": 0.2}}}',
            "curves",
        ),
        ("PATCH", f"/v1/runs/{RUN}", '{"scale": 0.5, "scale": 2.0}', "scale"),
        (
            "POST",
            f"/v1/runs/{RUN}/metrics",
            '{"step": 1, "step": 2, "name": "loss", "value": 1.0}',
            "step",
        ),
        ("PUT", "/v1/runs/fresh-run", f'{{"schedule": "{SCHEDULE}", "schedule": "x"}}', "schedule"),
    ],
    ids=["curve-name", "curve-field", "top-level", "patch", "metric", "bind"],
)
def test_a_duplicated_json_key_is_422_naming_it(
    unchanged: Api, method: str, url: str, body: str, key: str
) -> None:
    """Python's json keeps the last of duplicated keys silently; the server refuses them
    (``BodyLimit`` decodes request bodies with a duplicate-refusing hook)."""
    problem = unchanged.send("duplicate", method, url, content=body, headers=JSON_TYPE)
    assert problem["errors"] == [{"path": "", "message": problem["detail"]}]
    assert f"duplicate key {key!r}" in problem["detail"]


# -- content types and malformed JSON ---------------------------------------------------------

GOOD_BODY = json.dumps(curve_doc(CONSTANT)).encode()


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "text/json",
    ],
)
def test_a_body_that_is_not_declared_json_is_415(unchanged: Api, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    for method, url in (
        ("PUT", f"/v1/schedules/{SCHEDULE}"),
        ("PATCH", f"/v1/runs/{RUN}"),
        ("POST", "/v1/evaluate"),
    ):
        unchanged.send("content-type", method, url, (415,), content=GOOD_BODY, headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        b'{"curves": ',
        b"{'curves': {}}",
        b'{"curves": {}} trailing',
        b"",
        b'{"curves": "\xff\xfe"}',
        b'{"description": "\xc3\x28", "curves": {}}',
        '{"description": "caf\u00e9", "curves": {}}'.encode("latin-1"),
        b"[]",
        b"[" + GOOD_BODY + b"]",
        b"0",
        b"1e999",
        b"null",
        b"true",
        b'"text"',
        b'{"curves": {"lr": {"type": "constant", "value": NaN}}}',
        b'{"curves": {"lr": {"type": "constant", "value": Infinity}}}',
        b'{"curves": {"lr": {"type": "constant", "value": 1e999}}}',
        b'{"curves": {"lr": {"type": "constant", "value": ' + b"9" * 5000 + b"}}}",
        b'{"curves": {"lr": {"type": "step", "start": 0.1, "step_size": 1' + b"0" * 5000 + b"}}}",
    ],
    ids=lambda b: repr(b)[:30],
)
def test_malformed_or_misshapen_json_is_422(unchanged: Api, body: bytes) -> None:
    for method, url in (
        ("PUT", f"/v1/schedules/{SCHEDULE}"),
        ("PATCH", f"/v1/runs/{RUN}"),
        ("POST", f"/v1/runs/{RUN}/metrics"),
        ("POST", "/v1/evaluate"),
    ):
        unchanged.send("json", method, url, content=body, headers=JSON_TYPE)
