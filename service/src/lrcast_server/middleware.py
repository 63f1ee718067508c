"""The lean hot path, the request body limit and the query check (pure ASGI middleware).

``HotPath`` answers ``GET /v1/runs/{run}/lr?step=S`` without FastAPI's per-request machinery:
it does exactly what the documented route does (same service functions, same bytes), and leaves
every request it does not fully understand to the app, which then answers (or refuses) it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool

import lrcast
from lrcast._schemas import RUN_ID_PATTERN
from lrcast._validation import DuplicateKeyError, loads_strict
from lrcast_server import observability, runs
from lrcast_server.auth import Role, authorize
from lrcast_server.core import Core
from lrcast_server.errors import (
    InvalidRequestError,
    LrcastServerError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    log_unexpected,
    problem_response,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_RUN_ID = re.compile(RUN_ID_PATTERN)
_PREFIX, _SUFFIX = "/v1/runs/", "/lr"
_MAX_DIGITS = len(str(lrcast.MAX_STEP))
_JSON_HEADERS = [(b"content-type", b"application/json")]


async def _send_problem(
    send: Send, exc: Exception, extra: list[tuple[bytes, bytes]] | None = None
) -> int:
    response = problem_response(exc)
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers + (extra or []),
        }
    )
    await send({"type": "http.response.body", "body": response.body})
    return response.status_code


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HotPath:
    """The per-step answer, served lean: ``LrcastApp`` asks it first, before any middleware."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._flushes: set[asyncio.Future[None]] = set()

    def _parse(self, scope: Scope) -> tuple[str, int] | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        path: str = scope["path"]
        query: bytes = scope["query_string"]
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX) and query[:5] == b"step="):
            return None
        digits = query[5:]
        if not digits.isdigit() or len(digits) > _MAX_DIGITS:
            return None
        step = int(digits)
        run_id = path[len(_PREFIX) : -len(_SUFFIX)]
        if step > lrcast.MAX_STEP or _RUN_ID.fullmatch(run_id) is None:
            return None
        return run_id, step

    async def handle(self, scope: Scope, send: Send) -> bool:
        """Answer the request if it is a per-step GET; False leaves it to the app."""
        parsed = self._parse(scope)
        if parsed is None:
            return False
        run_id, step = parsed
        core = self.core
        started = time.perf_counter()
        authorization = request_id = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"x-request-id" and request_id is None:
                request_id = value  # the first, as the log line takes it
        echo: list[tuple[bytes, bytes]] = []
        if request_id is not None and observability.REQUEST_ID_BYTES.fullmatch(request_id):
            echo = [(b"x-request-id", request_id)]
        try:
            if authorization is not None or core.reads_need_token:
                if core.tokens.stale and authorization is not None:
                    await run_in_threadpool(core.tokens.refresh)
                who = authorize(
                    core.tokens,
                    authorization,
                    Role.read,
                    reads_need_token=core.reads_need_token,
                )
                observability.note_token(scope, who.name)
            body = runs.answer_from_memory(core, run_id, step)
            if body is None:
                body = await run_in_threadpool(runs.answer, core, run_id, step)
            elif core.seen_due():
                self._flush_later()
        except Exception as exc:
            if not isinstance(exc, LrcastServerError | lrcast.LrcastError):
                log_unexpected(exc)
            observability.hot_path_done(scope, await _send_problem(send, exc, echo), started)
            return True
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *echo],
            }
        )
        await send({"type": "http.response.body", "body": body})
        observability.hot_path_done(scope, 200, started)
        return True

    def _flush_later(self) -> None:
        future = asyncio.get_running_loop().run_in_executor(None, self.core.flush_seen)
        self._flushes.add(future)
        future.add_done_callback(self._flushes.discard)


def _json_problem(body: bytes) -> str | None:
    """Why the app must not see this JSON body (a duplicated key, which ``json`` would resolve
    silently to the last value, or nesting too deep to decode), or None; leaves any other
    invalid JSON to the app, which names it."""
    try:
        loads_strict(body)
    except DuplicateKeyError as exc:
        return f"the body is not valid JSON: duplicate key {exc.args[0]!r}"
    except RecursionError:
        return "the body is not valid JSON: nested too deeply"
    except json.JSONDecodeError:
        pass
    except ValueError as exc:  # an integer of more digits than int() converts
        return f"the body is not valid JSON: {exc}"
    return None


class QueryCheck:
    """Refuse query parameters holding a NUL character (422 naming the parameter): PostgreSQL
    cannot compare text holding one, so it is refused alike on every database."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if scope["type"] == "http" and b"%00" in query:
            pairs = urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            names = [name for name, value in pairs if "\x00" in name or "\x00" in value]
            if names:
                detail = "query parameters must not contain NUL characters"
                errors = [
                    lrcast.ErrorDetail(name, "must not contain NUL characters") for name in names
                ]
                await _send_problem(send, InvalidRequestError(detail, errors=errors))
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (413) whether or not they announce their length,
    and bodies that are not JSON (415); hand the app the body read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLargeError(f"request bodies are limited to {self.max_bytes} bytes")
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _send_problem(send, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_problem(send, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if body and not (content_type == "application/json" or content_type.endswith("+json")):
            shown = content_type or "none"
            await _send_problem(
                send,
                UnsupportedMediaTypeError(
                    f"send JSON (Content-Type: application/json), not {shown}"
                ),
            )
            return
        try:
            body.decode()
        except UnicodeDecodeError as exc:
            # JSON is UTF-8 (RFC 8259); FastAPI would answer an undocumented 400.
            detail = f"the body is not valid JSON: not UTF-8 at byte {exc.start}"
            await _send_problem(
                send, InvalidRequestError(detail, errors=[lrcast.ErrorDetail("", detail)])
            )
            return
        if body:
            problem = _json_problem(body)
            if problem is not None:
                await _send_problem(
                    send, InvalidRequestError(problem, errors=[lrcast.ErrorDetail("", problem)])
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
