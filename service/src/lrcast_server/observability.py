"""Observability: Prometheus metrics, one structured JSON log line per request, request ids.

Metrics are prometheus-client counters and histograms, cheap enough for the hot path (an
uncontended lock per update). With several worker processes, ``lrcast-server serve`` gives them
one fresh ``PROMETHEUS_MULTIPROC_DIR`` and ``GET /metrics`` sums every worker's files, so any
worker answers for the whole server. Routes are labelled by their template
(``/v1/runs/{run}/lr``), never by the raw path, so the label set stays bounded.

Request logs (logger ``lrcast_server.requests``, level INFO) carry the method, the route
template, the path, the status, the duration and the request id: never a header (so never a
token), a query string or a body.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timezone
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
HOT_ROUTE = "/v1/runs/{run}/lr"
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "lrcast_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "lrcast_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(
        0.0001,
        0.00025,
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        2.5,
        5,
        10,
    ),
)
LEASES = Counter("lrcast_lease_requests_total", "Leases given (each commits whole blocks).")
HORIZON_RAISES = Counter(
    "lrcast_horizon_raises_total", "Durable raises of a run's horizon (one write per block)."
)
EDITS = Counter(
    "lrcast_edits_total",
    "Timeline edits: `patch` (PATCH of a run), `publish` (a followed schedule's new version), "
    "`plateau` (a reduce-on-plateau reduction).",
    ["kind"],
)
BLOCK_CACHE = Counter(
    "lrcast_block_cache_total", "Lookups of computed blocks in the cache, by result.", ["result"]
)
BLOCK_CACHE_HIT = BLOCK_CACHE.labels("hit")
BLOCK_CACHE_MISS = BLOCK_CACHE.labels("miss")
METRIC_REPORTS = Counter("lrcast_metric_reports_total", "Metric reports received.")
PLATEAU_REDUCTIONS = Counter(
    "lrcast_plateau_reductions_total", "lr reductions made by reduce-on-plateau."
)
_HOT_LATENCY = LATENCY.labels("GET", HOT_ROUTE)
_HOT_OK = REQUESTS.labels("GET", HOT_ROUTE, "200")

request_log = logging.getLogger("lrcast_server.requests")


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of this server (every worker's, summed)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# -- request ids and logs ---------------------------------------------------------------------

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_BYTES = re.compile(_REQUEST_ID.pattern.encode())


def given_request_id(scope: Scope) -> str | None:
    """The client's ``X-Request-ID``, if it is a plain token of at most 128 characters."""
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.fullmatch(text) else None
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


_TOKEN_KEY = "lrcast.token"


def note_token(scope: Scope, name: str | None) -> None:
    """Remember the name of the token a request was allowed with, for its log line."""
    scope[_TOKEN_KEY] = name


def _log_request(
    scope: Scope, route: str, status: int, seconds: float, request_id: str | None
) -> None:
    fields: dict[str, Any] = {
        "method": scope["method"],
        "route": route,
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "request_id": request_id or new_request_id(),
        "token": scope.get(_TOKEN_KEY),
    }
    request_log.info("request", extra={"fields": fields})


def hot_path_done(scope: Scope, status: int, started: float) -> None:
    """Count, time and log one per-step answer of the lean hot path."""
    seconds = time.perf_counter() - started
    _HOT_LATENCY.observe(seconds)
    if status == 200:
        _HOT_OK.inc()
    else:
        REQUESTS.labels("GET", HOT_ROUTE, str(status)).inc()
    if request_log.isEnabledFor(logging.INFO):
        _log_request(scope, HOT_ROUTE, status, seconds, given_request_id(scope))


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class Observe:
    """ASGI middleware: gives each request an id (``X-Request-ID``, accepted or generated, and
    echoed), counts and times it by route template and logs it as one JSON line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = given_request_id(scope) or new_request_id()
        header = (b"x-request-id", request_id.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_of(scope)
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(seconds)
            if request_log.isEnabledFor(logging.INFO):
                _log_request(scope, route, status, seconds, request_id)


# -- logging set-up for `lrcast-server serve` -------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's ``fields`` and any
    exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's ``log_config``: lrcast's and uvicorn's own logs as JSON lines on stderr;
    uvicorn's optional access log (``--access-log``) keeps its classic format on stdout."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = json.loads(json.dumps(LOGGING_CONFIG))
    config["formatters"]["json"] = {"()": f"{__name__}.JsonFormatter"}
    config["handlers"]["json"] = {
        "formatter": "json",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["uvicorn"]["handlers"] = ["json"]
    config["loggers"]["lrcast_server"] = {
        "handlers": ["json"],
        "level": level.upper(),
        "propagate": False,
    }
    return config
