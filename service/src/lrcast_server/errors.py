"""The server's exception tree and its one translation to ``application/problem+json``.

Every error the server raises derives from :class:`LrcastServerError` (or is one of the schedule
language's :class:`lrcast.LrcastError`); each class carries its HTTP status and title, so
:func:`problem_response` turns any of them into an RFC 9457 problem document.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from sqlalchemy import exc as sa_exc
from starlette.responses import Response

from lrcast import ErrorDetail, LrcastError

PROBLEM_CONTENT_TYPE = "application/problem+json"

log = logging.getLogger("lrcast_server")


class LrcastServerError(Exception):
    """Base of every error the server raises on purpose."""

    status: int = 400
    title: str = "Bad request"
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, detail: str, *, errors: Iterable[ErrorDetail] = ()) -> None:
        self.detail = detail
        self.errors = list(errors)
        super().__init__(detail)


class UnauthorizedError(LrcastServerError):
    status = 401
    title = "Token required"
    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": 'Bearer realm="lrcast"'}


class ForbiddenError(LrcastServerError):
    status = 403
    title = "Not allowed"


class NotFoundError(LrcastServerError):
    status = 404
    title = "Not found"


class MethodNotAllowedError(LrcastServerError):
    status = 405
    title = "Method not allowed"


class ConflictError(LrcastServerError):
    status = 409
    title = "Conflict"


class PreconditionFailedError(LrcastServerError):
    status = 412
    title = "Precondition failed"


class PayloadTooLargeError(LrcastServerError):
    status = 413
    title = "Request body too large"


class UnsupportedMediaTypeError(LrcastServerError):
    status = 415
    title = "Unsupported media type"


class InvalidRequestError(LrcastServerError):
    status = 422
    title = "Invalid request"


class ServiceUnavailableError(LrcastServerError):
    status = 503
    title = "Service unavailable"
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "1"}


DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
"""What the database driver raises when the database cannot answer (unreachable, restarting,
out of connections, a SQLite file locked for too long): a 503, not a server fault."""


PG_UNAVAILABLE = frozenset({"25006", "53300", "57P01", "57P02", "57P03"})
"""SQLSTATEs of a PostgreSQL that cannot serve now: read-only (a standby after a failover), too
many connections, shutting down, starting up."""


def database_down(exc: BaseException) -> bool:
    if isinstance(exc, DATABASE_DOWN):
        return True
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, sa_exc.DBAPIError) and state in PG_UNAVAILABLE


def log_unexpected(exc: BaseException) -> None:
    """Log an error the server did not raise on purpose: a database that cannot answer in one
    line (a 503), anything else with its traceback (a 500)."""
    if database_down(exc):
        log.warning("database unavailable: %s", str(exc).splitlines()[0])
    else:
        log.exception("unexpected error", exc_info=exc)


def problem_type(title: str) -> str:
    """A stable identifier for a kind of problem, derived from its title."""
    return "urn:lrcast:problem:" + "-".join(title.lower().split())


def problem_body(
    status: int, title: str, detail: str, errors: Iterable[ErrorDetail] = ()
) -> dict[str, Any]:
    """The problem document (RFC 9457) for one error."""
    return {
        "type": problem_type(title),
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"path": e.path, "message": e.message} for e in errors],
    }


def problem_response(exc: Exception) -> Response:
    """The ``application/problem+json`` response for any error the server can meet."""
    headers: Mapping[str, str] = {}
    if database_down(exc):
        exc = ServiceUnavailableError("the database did not answer; try again")
    if isinstance(exc, LrcastServerError):
        status, title, detail, errors = exc.status, exc.title, exc.detail, exc.errors
        headers = exc.headers
    elif isinstance(exc, LrcastError):
        status, title, detail = exc.status, exc.title, str(exc)
        errors = list(getattr(exc, "errors", []))
    else:
        status, title = 500, "Internal server error"
        detail, errors = "The server failed to answer; the error is logged.", []
    return Response(
        orjson.dumps(problem_body(status, title, detail, errors)),
        status_code=status,
        headers=dict(headers),
        media_type=PROBLEM_CONTENT_TYPE,
    )


def http_status_error(status: int, detail: str | None = None) -> LrcastServerError:
    """The server error standing for a plain HTTP status raised by the framework."""
    classes: dict[int, type[LrcastServerError]] = {
        cls.status: cls
        for cls in (
            UnauthorizedError,
            ForbiddenError,
            NotFoundError,
            MethodNotAllowedError,
            ConflictError,
            PreconditionFailedError,
            PayloadTooLargeError,
            UnsupportedMediaTypeError,
            InvalidRequestError,
            ServiceUnavailableError,
        )
    }
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    cls = classes.get(status)
    if cls is None:
        error = LrcastServerError(detail or phrase)
        error.status, error.title = status, phrase
        return error
    return cls(detail or phrase)
