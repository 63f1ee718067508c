"""``Client`` and ``AsyncClient`` against a real server: every endpoint, typed answers,
configuration from the environment, retries and problem details."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from lrcast._client import AsyncClient, Client
from lrcast._config import Retry
from lrcast._exceptions import (
    ApiError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
    TransportError,
    UnauthorizedError,
)
from lrcast._schemas import Lease, LrAnswer, PublishResult, RunEdit, RunRead
from tests.client.conftest import ADMIN_TOKEN, Server
from tests.client.helpers import COSINE, expected


def test_client_covers_schedules_and_runs_with_typed_answers(client: Client, name: str) -> None:
    published = client.publish(name, COSINE)
    assert isinstance(published, PublishResult)
    assert published.published
    assert not client.publish(name, COSINE).published
    assert client.publish(name, {"curves": {"lr": {"type": "constant", "value": 1}}}).version == 2
    assert client.get_schedule(name).version == 2
    assert client.get_version(name, 1).document.curves["lr"].type == "cosine"
    assert [v.version for v in client.iter_versions(name, page_size=1)] == [1, 2]
    assert name in [s.name for s in client.iter_schedules(page_size=2)]
    assert client.schedule_lr(name, 5, version=1).lr == pytest.approx(0.1, rel=1e-3)
    assert client.schedule_range(name, 0, 10, every=5).steps == [0, 5]
    assert client.evaluate(COSINE, stop=3).values["lr"][0] == 0.1

    run = client.bind_run(name, name, version=1, block=8, groups={"a": 0.5})
    assert isinstance(run, RunRead)
    assert client.bind_run(name, name, version=1, block=8, groups={"a": 0.5}) == client.get_run(
        name
    )
    answer = client.lr(name, 3)
    assert isinstance(answer, LrAnswer)
    lease = client.lease(name, 9, blocks=2)
    assert isinstance(lease, Lease)
    assert (lease.from_step, lease.to_step) == (8, 24)
    assert lease.values["lr"][1] == expected(client, name, range(9, 10))["lr"][0]
    assert client.lr_range(name, 0, 100, every=50).committed_until == 23
    edit = client.edit_run(name, scale=2.0)
    assert isinstance(edit, RunEdit)
    assert edit.effective_step == 24
    assert name in [r.id for r in client.iter_runs(schedule=name)]
    with pytest.raises(ConflictError, match="bound with another body"):
        client.bind_run(name, name, block=16)
    with pytest.raises(ConflictError):
        client.archive_schedule(name)
    client.archive_run(name)
    assert client.get_run(name).archived
    client.archive_schedule(name)
    assert client.health() == {"status": "ok"}
    assert client.ready() == {"status": "ready"}
    assert client.request("GET", f"/v1/runs/{name}").headers["ETag"]


def test_a_problem_becomes_an_exception_with_its_detail_and_fields(client: Client) -> None:
    bad = {"curves": {"lr": {"type": "cosine", "start": 0.1, "steps": -1}}}
    with pytest.raises(InvalidRequestError) as raised:
        client.publish("bad-schedule", bad)
    assert raised.value.status == 422
    assert [e.path for e in raised.value.errors] == ["curves.lr.steps"]
    assert "curves.lr.steps" in str(raised.value)
    with pytest.raises(NotFoundError, match="no run 'missing'"):
        client.lease("missing", 0)


def test_writes_without_a_token_are_refused(server: Server) -> None:
    with Client(url=server.url, token="") as anonymous, pytest.raises(UnauthorizedError):
        anonymous.publish("anonymous", COSINE)


def test_url_and_token_come_from_the_environment(
    server: Server, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRCAST_URL", server.url)
    monkeypatch.setenv("LRCAST_TOKEN", ADMIN_TOKEN)
    with Client() as client:
        assert client.url == server.url
        assert client.publish(name, COSINE).published


def test_connection_errors_are_retried_then_raised_with_the_httpx_cause() -> None:
    attempts = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("refused", request=request)

    retry = Retry(retries=2, backoff=0.001)
    with (
        Client(transport=httpx.MockTransport(refuse), retry=retry) as client,
        pytest.raises(TransportError) as raised,
    ):
        client.lr("r", 0)
    assert len(attempts) == 3
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(("status", "tries"), [(503, 3), (429, 3), (500, 3), (404, 1), (422, 1)])
def test_429_and_5xx_are_retried_never_4xx(status: int, tries: int) -> None:
    attempts = []

    def answer(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(
            status, json={"type": "t", "title": "T", "status": status, "detail": "d"}
        )

    with (
        Client(transport=httpx.MockTransport(answer), retry=Retry(retries=2, backoff=0)) as client,
        pytest.raises(ApiError) as raised,
    ):
        client.get_run("r")
    assert len(attempts) == tries
    assert raised.value.status == status
    if status == 503:
        assert isinstance(raised.value, ServiceUnavailableError)


def test_an_edit_is_not_repeated_after_a_server_error() -> None:
    attempts = []

    def fail(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(500, json={})

    with (
        Client(transport=httpx.MockTransport(fail), retry=Retry(retries=3, backoff=0)) as client,
        pytest.raises(ServerError, match="500"),
    ):
        client.edit_run("r", scale=1.0)
    assert len(attempts) == 1


def test_retry_backoff_is_jittered_and_bounded() -> None:
    retry = Retry(backoff=0.1, max_backoff=1.0)
    delays = [retry.delay(n) for n in range(10) for _ in range(20)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100
    assert retry.delay(0, retry_after=30) == 1.0


def test_async_client_mirrors_the_sync_client(server: Server, name: str) -> None:
    async def scenario() -> tuple[float, list[str]]:
        async with AsyncClient(url=server.url, token=ADMIN_TOKEN) as client:
            await client.publish(name, COSINE)
            await client.bind_run(name, name, block=4)
            lease = await client.lease(name, 0)
            runs = [r.id async for r in client.iter_runs(schedule=name)]
            reported = await client.report(name, 3, "loss", 0.5)
            assert (reported.step, reported.plateau) == (3, None)  # the run has no plateau
            metrics = [(m.step, m.value) async for m in client.iter_metrics(name, name="loss")]
            assert metrics == [(3, 0.5)]
            value = lease.values["lr"][2]
            assert value is not None
            return value, runs

    value, runs = asyncio.run(scenario())
    assert runs == [name]
    with Client(url=server.url) as client:
        assert value == client.lr(name, 2).lr
