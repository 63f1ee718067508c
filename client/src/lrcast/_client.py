"""The HTTP client: :class:`Client` (sync) and :class:`AsyncClient` over one shared base.

As in httpx, :class:`_BaseClient` builds every request (a :class:`_Call`: method, path, query,
body and how to parse the answer) and decides about retries; ``Client`` and ``AsyncClient``
only send them. Every answer is one of the Pydantic models of :mod:`lrcast._schemas`, the same
the server answers with; every error is an :class:`lrcast.ApiError` or
:class:`lrcast.TransportError`.
"""

from __future__ import annotations

import asyncio
import enum
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from lrcast._config import DEFAULT_RETRY, DEFAULT_TIMEOUT, RETRY_STATUSES, Retry, Timeout
from lrcast._exceptions import TransportError, error_for
from lrcast._models import ScheduleDocument
from lrcast._schemas import (
    EvaluateAnswer,
    Lease,
    LrAnswer,
    MetricPage,
    MetricRead,
    MetricResult,
    PublishResult,
    RangeAnswer,
    RunEdit,
    RunPage,
    RunRead,
    RunSummary,
    ScheduleLrAnswer,
    SchedulePage,
    ScheduleRangeAnswer,
    ScheduleSummary,
    ScheduleVersionRead,
    VersionPage,
    VersionSummary,
)
from lrcast._version import __version__

DEFAULT_URL = "http://127.0.0.1:8000"
"""Where ``lrcast-server serve`` listens by default (used when neither ``url`` nor
``LRCAST_URL`` is given)."""
USER_AGENT = f"lrcast-python/{__version__}"

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Document = ScheduleDocument | Mapping[str, Any]
Follow = int | Literal["latest"]


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET
"""Leave a field of :meth:`Client.edit_run` as it is (``None`` there means "set to null")."""

# Sent at most once on failure, so safe to retry after a broken connection: everything but
# PATCH (whose retry after a lost answer could edit a second time, at a later block).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One request, ready to send, and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None

    @property
    def idempotent(self) -> bool:
        return self.method != "PATCH"


def _model(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: cls.model_validate_json(response.content)


def _nothing(_response: httpx.Response) -> None:
    return None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body


def _segment(value: str) -> str:
    return quote(value, safe="")


def _document(document: Document) -> Any:
    if isinstance(document, ScheduleDocument):
        return document.model_dump(mode="json", exclude_unset=True)
    return dict(document)


def _if_match(if_match: str | None) -> dict[str, str] | None:
    return {"If-Match": if_match} if if_match is not None else None


def _drop_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


class _BaseClient:
    """Configuration, request building and retry decisions shared by both clients."""

    def __init__(
        self,
        *,
        url: str | None,
        token: str | None,
        timeout: Timeout,
        retry: Retry,
        headers: Mapping[str, str] | None,
    ) -> None:
        self.url = (url or os.environ.get("LRCAST_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("LRCAST_TOKEN") or None
        self.timeout = timeout
        self.retry = retry
        self.headers: dict[str, str] = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.token:
            self.headers["Authorization"] = f"Bearer {self.token}"
        self.headers.update(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def _retry_delay(
        self,
        call: _Call[Any],
        attempt: int,
        *,
        response: httpx.Response | None = None,
        error: httpx.TransportError | None = None,
    ) -> float | None:
        """Seconds to wait before trying ``call`` again, or None to give up."""
        if attempt >= self.retry.retries:
            return None
        if error is not None:
            if call.idempotent or isinstance(error, _NOT_SENT):
                return self.retry.delay(attempt)
            return None
        assert response is not None
        if response.status_code not in RETRY_STATUSES:
            return None
        if not call.idempotent and response.status_code not in (429, 503):
            return None
        return self.retry.delay(attempt, _retry_after(response))

    def _unreachable(self, call: _Call[Any], error: httpx.TransportError) -> TransportError:
        reason = str(error) or type(error).__name__
        return TransportError(f"{call.method} {self.url}{call.path} failed: {reason}")

    # -- request builders ----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Call[httpx.Response]:
        return _Call(method, path, lambda r: r, params, json, headers)

    def _health(self) -> _Call[dict[str, Any]]:
        return _Call("GET", "/healthz", _json_object)

    def _ready(self) -> _Call[dict[str, Any]]:
        return _Call("GET", "/readyz", _json_object)

    def _publish(self, name: str, document: Document, if_match: str | None) -> _Call[PublishResult]:
        return _Call(
            "PUT",
            f"/v1/schedules/{_segment(name)}",
            _model(PublishResult),
            json=_document(document),
            headers=_if_match(if_match),
        )

    def _list_schedules(self, limit: int, cursor: str | None) -> _Call[SchedulePage]:
        params = _drop_none({"limit": limit, "cursor": cursor})
        return _Call("GET", "/v1/schedules", _model(SchedulePage), params)

    def _get_schedule(self, name: str) -> _Call[ScheduleVersionRead]:
        return _Call("GET", f"/v1/schedules/{_segment(name)}", _model(ScheduleVersionRead))

    def _list_versions(self, name: str, limit: int, cursor: int | None) -> _Call[VersionPage]:
        params = _drop_none({"limit": limit, "cursor": cursor})
        return _Call("GET", f"/v1/schedules/{_segment(name)}/versions", _model(VersionPage), params)

    def _get_version(self, name: str, version: int) -> _Call[ScheduleVersionRead]:
        return _Call(
            "GET",
            f"/v1/schedules/{_segment(name)}/versions/{int(version)}",
            _model(ScheduleVersionRead),
        )

    def _schedule_lr(
        self,
        name: str,
        step: int,
        version: int | None,
        total_steps: int | None,
        steps_per_epoch: int | None,
    ) -> _Call[ScheduleLrAnswer]:
        params = _drop_none(
            {
                "step": step,
                "version": version,
                "total_steps": total_steps,
                "steps_per_epoch": steps_per_epoch,
            }
        )
        return _Call("GET", f"/v1/schedules/{_segment(name)}/lr", _model(ScheduleLrAnswer), params)

    def _schedule_range(
        self,
        name: str,
        start: int,
        stop: int,
        every: int,
        version: int | None,
        total_steps: int | None,
        steps_per_epoch: int | None,
    ) -> _Call[ScheduleRangeAnswer]:
        params = _drop_none(
            {
                "start": start,
                "stop": stop,
                "every": every,
                "version": version,
                "total_steps": total_steps,
                "steps_per_epoch": steps_per_epoch,
            }
        )
        return _Call(
            "GET", f"/v1/schedules/{_segment(name)}/lr", _model(ScheduleRangeAnswer), params
        )

    def _archive_schedule(self, name: str, if_match: str | None) -> _Call[None]:
        return _Call(
            "DELETE", f"/v1/schedules/{_segment(name)}", _nothing, headers=_if_match(if_match)
        )

    def _evaluate(
        self,
        document: Document,
        start: int,
        stop: int,
        every: int,
        total_steps: int | None,
        steps_per_epoch: int | None,
    ) -> _Call[EvaluateAnswer]:
        body = _drop_none(
            {
                "document": _document(document),
                "start": start,
                "stop": stop,
                "every": every,
                "total_steps": total_steps,
                "steps_per_epoch": steps_per_epoch,
            }
        )
        return _Call("POST", "/v1/evaluate", _model(EvaluateAnswer), json=body)

    def _bind_run(
        self,
        run: str,
        schedule: str,
        *,
        version: Follow,
        scale: float,
        offset: int,
        groups: Mapping[str, float] | None,
        block: int,
        total_steps: int | None,
        steps_per_epoch: int | None,
        if_match: str | None,
        plateau: Mapping[str, Any] | None = None,
    ) -> _Call[RunRead]:
        body: dict[str, Any] = {
            "schedule": schedule,
            "version": version,
            "scale": scale,
            "offset": offset,
            "groups": dict(groups or {}),
            "block": block,
            "total_steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
        }
        if plateau is not None:
            body["plateau"] = dict(plateau)
        return _Call(
            "PUT",
            f"/v1/runs/{_segment(run)}",
            _model(RunRead),
            json=body,
            headers=_if_match(if_match),
        )

    def _list_runs(
        self, limit: int, cursor: str | None, schedule: str | None, archived: bool
    ) -> _Call[RunPage]:
        params = _drop_none(
            {
                "limit": limit,
                "cursor": cursor,
                "schedule": schedule,
                "archived": "true" if archived else None,
            }
        )
        return _Call("GET", "/v1/runs", _model(RunPage), params)

    def _get_run(self, run: str) -> _Call[RunRead]:
        return _Call("GET", f"/v1/runs/{_segment(run)}", _model(RunRead))

    def _edit_run(
        self,
        run: str,
        *,
        schedule: str | None,
        version: Follow | None,
        scale: float | None,
        offset: int | None,
        groups: Mapping[str, float] | None,
        total_steps: int | _Unset | None,
        steps_per_epoch: int | _Unset | None,
        plateau: Mapping[str, Any] | _Unset | None,
        at_step: int | None,
        clock: Literal["global", "restart"] | None,
        if_match: str | None,
    ) -> _Call[RunEdit]:
        body: dict[str, Any] = _drop_none(
            {
                "schedule": schedule,
                "version": version,
                "scale": scale,
                "offset": offset,
                "groups": dict(groups) if groups is not None else None,
                "at_step": at_step,
                "clock": clock,
            }
        )
        if total_steps is not UNSET:
            body["total_steps"] = total_steps
        if steps_per_epoch is not UNSET:
            body["steps_per_epoch"] = steps_per_epoch
        if plateau is not UNSET:
            body["plateau"] = None if plateau is None else dict(plateau)
        return _Call(
            "PATCH",
            f"/v1/runs/{_segment(run)}",
            _model(RunEdit),
            json=body,
            headers=_if_match(if_match),
        )

    def _archive_run(self, run: str, if_match: str | None) -> _Call[None]:
        return _Call("DELETE", f"/v1/runs/{_segment(run)}", _nothing, headers=_if_match(if_match))

    def _lr(self, run: str, step: int) -> _Call[LrAnswer]:
        return _Call("GET", f"/v1/runs/{_segment(run)}/lr", _model(LrAnswer), {"step": step})

    def _lr_range(self, run: str, start: int, stop: int, every: int) -> _Call[RangeAnswer]:
        params = {"start": start, "stop": stop, "every": every}
        return _Call("GET", f"/v1/runs/{_segment(run)}/lr", _model(RangeAnswer), params)

    def _lease(self, run: str, step: int, blocks: int) -> _Call[Lease]:
        params = {"step": step, "blocks": blocks}
        return _Call("GET", f"/v1/runs/{_segment(run)}/lease", _model(Lease), params)

    def _report(self, run: str, step: int, name: str | None, value: float) -> _Call[MetricResult]:
        body = _drop_none({"step": step, "name": name, "value": value})
        return _Call("POST", f"/v1/runs/{_segment(run)}/metrics", _model(MetricResult), json=body)

    def _list_metrics(
        self, run: str, limit: int, cursor: str | None, name: str | None
    ) -> _Call[MetricPage]:
        params = _drop_none({"limit": limit, "cursor": cursor, "name": name})
        return _Call("GET", f"/v1/runs/{_segment(run)}/metrics", _model(MetricPage), params)


class Client(_BaseClient):
    """A synchronous lrcast client.

    Args:
      url: the server (default ``$LRCAST_URL``, else ``http://127.0.0.1:8000``).
      token: a bearer token (default ``$LRCAST_TOKEN``); reads on loopback need none.
      timeout: a :class:`Timeout`.
      retry: a :class:`Retry` (jittered backoff on connection errors, 429 and 5xx).
      headers: extra headers sent with every request.
      transport: an httpx transport (tests, proxies).

    Example:
      >>> with lrcast.Client(url="http://127.0.0.1:8000") as client:  # doctest: +SKIP
      ...     client.lr("resnet50-seed1", 1200).lr
      0.7978
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        token: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: Retry = DEFAULT_RETRY,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url=url, token=token, timeout=timeout, retry=retry, headers=headers)
        self._http = httpx.Client(
            base_url=self.url,
            headers=self.headers,
            timeout=timeout.to_httpx(),
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=call.headers
                )
            except httpx.TransportError as exc:
                delay = self._retry_delay(call, attempt, error=exc)
                if delay is None:
                    raise self._unreachable(call, exc) from exc
            else:
                if response.is_success:
                    return call.parse(response)
                delay = self._retry_delay(call, attempt, response=response)
                if delay is None:
                    raise error_for(response)
            time.sleep(delay)
            attempt += 1

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Any request, with the client's retries and errors; returns the raw response (to
        read an ``ETag``, say)."""
        return self._send(self._request(method, path, params=params, json=json, headers=headers))

    # -- health --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: the server process answers."""
        return self._send(self._health())

    def ready(self) -> dict[str, Any]:
        """``GET /readyz``: the server and its database answer (503 otherwise)."""
        return self._send(self._ready())

    # -- schedules -----------------------------------------------------------------------------

    def publish(
        self, name: str, document: Document, *, if_match: str | None = None
    ) -> PublishResult:
        """Publish ``document`` as the next version of schedule ``name`` (a no-op, with
        ``published`` False, if it equals the latest)."""
        return self._send(self._publish(name, document, if_match))

    def list_schedules(self, *, limit: int = 50, cursor: str | None = None) -> SchedulePage:
        return self._send(self._list_schedules(limit, cursor))

    def iter_schedules(self, *, page_size: int = 100) -> Iterator[ScheduleSummary]:
        """Every schedule, following the pages."""
        cursor: str | None = None
        while True:
            page = self.list_schedules(limit=page_size, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_schedule(self, name: str) -> ScheduleVersionRead:
        """The latest version of schedule ``name``."""
        return self._send(self._get_schedule(name))

    def list_versions(
        self, name: str, *, limit: int = 50, cursor: int | None = None
    ) -> VersionPage:
        return self._send(self._list_versions(name, limit, cursor))

    def iter_versions(self, name: str, *, page_size: int = 100) -> Iterator[VersionSummary]:
        """Every version of schedule ``name``, oldest first."""
        cursor: int | None = None
        while True:
            page = self.list_versions(name, limit=page_size, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = int(page.next_cursor)

    def get_version(self, name: str, version: int) -> ScheduleVersionRead:
        return self._send(self._get_version(name, version))

    def schedule_lr(
        self,
        name: str,
        step: int,
        *,
        version: int | None = None,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> ScheduleLrAnswer:
        """A stored schedule's values at one step (no run: no scale, offset or groups)."""
        return self._send(self._schedule_lr(name, step, version, total_steps, steps_per_epoch))

    def schedule_range(
        self,
        name: str,
        start: int,
        stop: int,
        *,
        every: int = 1,
        version: int | None = None,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> ScheduleRangeAnswer:
        """A stored schedule's values over ``range(start, stop, every)``."""
        return self._send(
            self._schedule_range(name, start, stop, every, version, total_steps, steps_per_epoch)
        )

    def archive_schedule(self, name: str, *, if_match: str | None = None) -> None:
        """Archive a schedule (admin; refused with :class:`ConflictError` while a run uses it)."""
        self._send(self._archive_schedule(name, if_match))

    def evaluate(
        self,
        document: Document,
        *,
        stop: int,
        start: int = 0,
        every: int = 1,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> EvaluateAnswer:
        """Validate and evaluate an inline document on the server without storing it."""
        return self._send(
            self._evaluate(document, start, stop, every, total_steps, steps_per_epoch)
        )

    # -- runs ----------------------------------------------------------------------------------

    def bind_run(
        self,
        run: str,
        schedule: str,
        *,
        version: Follow = "latest",
        scale: float = 1.0,
        offset: int = 0,
        groups: Mapping[str, float] | None = None,
        block: int = 256,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        plateau: Mapping[str, Any] | None = None,
        if_match: str | None = None,
    ) -> RunRead:
        """Bind ``run`` to ``schedule``; the same arguments again are a no-op, others a
        :class:`ConflictError` (use :meth:`edit_run`)."""
        return self._send(
            self._bind_run(
                run,
                schedule,
                version=version,
                scale=scale,
                offset=offset,
                groups=groups,
                block=block,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
                if_match=if_match,
                plateau=plateau,
            )
        )

    def list_runs(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        schedule: str | None = None,
        archived: bool = False,
    ) -> RunPage:
        return self._send(self._list_runs(limit, cursor, schedule, archived))

    def iter_runs(
        self, *, schedule: str | None = None, archived: bool = False, page_size: int = 100
    ) -> Iterator[RunSummary]:
        """Every run (of ``schedule``, if given), following the pages."""
        cursor: str | None = None
        while True:
            page = self.list_runs(
                limit=page_size, cursor=cursor, schedule=schedule, archived=archived
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_run(self, run: str) -> RunRead:
        """A run: its binding, timeline, horizon and last step seen."""
        return self._send(self._get_run(run))

    def edit_run(
        self,
        run: str,
        *,
        schedule: str | None = None,
        version: Follow | None = None,
        scale: float | None = None,
        offset: int | None = None,
        groups: Mapping[str, float] | None = None,
        total_steps: int | _Unset | None = UNSET,
        steps_per_epoch: int | _Unset | None = UNSET,
        plateau: Mapping[str, Any] | _Unset | None = UNSET,
        at_step: int | None = None,
        clock: Literal["global", "restart"] | None = None,
        if_match: str | None = None,
    ) -> RunEdit:
        """Edit a run from ``at_step`` or its first unanswered block on (``effective_step``
        says which). Arguments left out keep their value; ``plateau=None`` stops
        reduce-on-plateau."""
        return self._send(
            self._edit_run(
                run,
                schedule=schedule,
                version=version,
                scale=scale,
                offset=offset,
                groups=groups,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
                plateau=plateau,
                at_step=at_step,
                clock=clock,
                if_match=if_match,
            )
        )

    def archive_run(self, run: str, *, if_match: str | None = None) -> None:
        self._send(self._archive_run(run, if_match))

    def lr(self, run: str, step: int) -> LrAnswer:
        """Every value of ``run`` at ``step`` (commits its block: the answer never changes)."""
        return self._send(self._lr(run, step))

    def lr_range(self, run: str, start: int, stop: int, *, every: int = 1) -> RangeAnswer:
        """A preview of ``run`` over ``range(start, stop, every)``; commits nothing."""
        return self._send(self._lr_range(run, start, stop, every))

    def lease(self, run: str, step: int, *, blocks: int = 1) -> Lease:
        """Commit and fetch ``blocks`` whole blocks of ``run`` from the one holding ``step``."""
        return self._send(self._lease(run, step, blocks))

    def report(self, run: str, step: int, name: str | None, value: float) -> MetricResult:
        """Report a metric (``POST /v1/runs/{run}/metrics``), for reduce-on-plateau runs;
        ``.plateau`` says what the run's rule made of it. ``name=None``: the run's
        ``plateau.metric`` (``"loss"`` without a plateau), as the server has it then."""
        return self._send(self._report(run, step, name, value))

    def list_metrics(
        self, run: str, *, limit: int = 1000, cursor: str | None = None, name: str | None = None
    ) -> MetricPage:
        """One page of a run's metric reports, by step then name (of metric ``name``)."""
        return self._send(self._list_metrics(run, limit, cursor, name))

    def iter_metrics(
        self, run: str, *, name: str | None = None, page_size: int = 1000
    ) -> Iterator[MetricRead]:
        """Every metric report of a run (of metric ``name``), following the pages."""
        cursor: str | None = None
        while True:
            page = self.list_metrics(run, limit=page_size, cursor=cursor, name=name)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


class AsyncClient(_BaseClient):
    """The asynchronous twin of :class:`Client`: the same methods, awaited.

    Example:
      >>> async with lrcast.AsyncClient() as client:  # doctest: +SKIP
      ...     lease = await client.lease("resnet50-seed1", 0)
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        token: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: Retry = DEFAULT_RETRY,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url=url, token=token, timeout=timeout, retry=retry, headers=headers)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=self.headers,
            timeout=timeout.to_httpx(),
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=call.headers
                )
            except httpx.TransportError as exc:
                delay = self._retry_delay(call, attempt, error=exc)
                if delay is None:
                    raise self._unreachable(call, exc) from exc
            else:
                if response.is_success:
                    return call.parse(response)
                delay = self._retry_delay(call, attempt, response=response)
                if delay is None:
                    raise error_for(response)
            await asyncio.sleep(delay)
            attempt += 1

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Any request, with the client's retries and errors; returns the raw response."""
        return await self._send(
            self._request(method, path, params=params, json=json, headers=headers)
        )

    async def health(self) -> dict[str, Any]:
        return await self._send(self._health())

    async def ready(self) -> dict[str, Any]:
        return await self._send(self._ready())

    async def publish(
        self, name: str, document: Document, *, if_match: str | None = None
    ) -> PublishResult:
        return await self._send(self._publish(name, document, if_match))

    async def list_schedules(self, *, limit: int = 50, cursor: str | None = None) -> SchedulePage:
        return await self._send(self._list_schedules(limit, cursor))

    async def iter_schedules(self, *, page_size: int = 100) -> AsyncIterator[ScheduleSummary]:
        cursor: str | None = None
        while True:
            page = await self.list_schedules(limit=page_size, cursor=cursor)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get_schedule(self, name: str) -> ScheduleVersionRead:
        return await self._send(self._get_schedule(name))

    async def list_versions(
        self, name: str, *, limit: int = 50, cursor: int | None = None
    ) -> VersionPage:
        return await self._send(self._list_versions(name, limit, cursor))

    async def iter_versions(
        self, name: str, *, page_size: int = 100
    ) -> AsyncIterator[VersionSummary]:
        cursor: int | None = None
        while True:
            page = await self.list_versions(name, limit=page_size, cursor=cursor)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = int(page.next_cursor)

    async def get_version(self, name: str, version: int) -> ScheduleVersionRead:
        return await self._send(self._get_version(name, version))

    async def schedule_lr(
        self,
        name: str,
        step: int,
        *,
        version: int | None = None,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> ScheduleLrAnswer:
        return await self._send(
            self._schedule_lr(name, step, version, total_steps, steps_per_epoch)
        )

    async def schedule_range(
        self,
        name: str,
        start: int,
        stop: int,
        *,
        every: int = 1,
        version: int | None = None,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> ScheduleRangeAnswer:
        return await self._send(
            self._schedule_range(name, start, stop, every, version, total_steps, steps_per_epoch)
        )

    async def archive_schedule(self, name: str, *, if_match: str | None = None) -> None:
        await self._send(self._archive_schedule(name, if_match))

    async def evaluate(
        self,
        document: Document,
        *,
        stop: int,
        start: int = 0,
        every: int = 1,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> EvaluateAnswer:
        return await self._send(
            self._evaluate(document, start, stop, every, total_steps, steps_per_epoch)
        )

    async def bind_run(
        self,
        run: str,
        schedule: str,
        *,
        version: Follow = "latest",
        scale: float = 1.0,
        offset: int = 0,
        groups: Mapping[str, float] | None = None,
        block: int = 256,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        plateau: Mapping[str, Any] | None = None,
        if_match: str | None = None,
    ) -> RunRead:
        return await self._send(
            self._bind_run(
                run,
                schedule,
                version=version,
                scale=scale,
                offset=offset,
                groups=groups,
                block=block,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
                if_match=if_match,
                plateau=plateau,
            )
        )

    async def list_runs(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        schedule: str | None = None,
        archived: bool = False,
    ) -> RunPage:
        return await self._send(self._list_runs(limit, cursor, schedule, archived))

    async def iter_runs(
        self, *, schedule: str | None = None, archived: bool = False, page_size: int = 100
    ) -> AsyncIterator[RunSummary]:
        cursor: str | None = None
        while True:
            page = await self.list_runs(
                limit=page_size, cursor=cursor, schedule=schedule, archived=archived
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get_run(self, run: str) -> RunRead:
        return await self._send(self._get_run(run))

    async def edit_run(
        self,
        run: str,
        *,
        schedule: str | None = None,
        version: Follow | None = None,
        scale: float | None = None,
        offset: int | None = None,
        groups: Mapping[str, float] | None = None,
        total_steps: int | _Unset | None = UNSET,
        steps_per_epoch: int | _Unset | None = UNSET,
        plateau: Mapping[str, Any] | _Unset | None = UNSET,
        at_step: int | None = None,
        clock: Literal["global", "restart"] | None = None,
        if_match: str | None = None,
    ) -> RunEdit:
        return await self._send(
            self._edit_run(
                run,
                schedule=schedule,
                version=version,
                scale=scale,
                offset=offset,
                groups=groups,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
                plateau=plateau,
                at_step=at_step,
                clock=clock,
                if_match=if_match,
            )
        )

    async def archive_run(self, run: str, *, if_match: str | None = None) -> None:
        await self._send(self._archive_run(run, if_match))

    async def lr(self, run: str, step: int) -> LrAnswer:
        return await self._send(self._lr(run, step))

    async def lr_range(self, run: str, start: int, stop: int, *, every: int = 1) -> RangeAnswer:
        return await self._send(self._lr_range(run, start, stop, every))

    async def lease(self, run: str, step: int, *, blocks: int = 1) -> Lease:
        return await self._send(self._lease(run, step, blocks))

    async def report(self, run: str, step: int, name: str | None, value: float) -> MetricResult:
        return await self._send(self._report(run, step, name, value))

    async def list_metrics(
        self, run: str, *, limit: int = 1000, cursor: str | None = None, name: str | None = None
    ) -> MetricPage:
        return await self._send(self._list_metrics(run, limit, cursor, name))

    async def iter_metrics(
        self, run: str, *, name: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[MetricRead]:
        cursor: str | None = None
        while True:
            page = await self.list_metrics(run, limit=page_size, cursor=cursor, name=name)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
