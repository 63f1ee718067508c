"""The client's exception tree, mirroring the server's.

An answer of status 4xx or 5xx becomes an :class:`ApiError` subclass carrying the status, the
problem document's ``detail`` and every bad field in ``errors``; a server that cannot be reached
becomes a :class:`TransportError` chaining the httpx error. All derive from
:class:`lrcast.LrcastError`.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from lrcast._errors import ErrorDetail, LrcastError
from lrcast._schemas import Problem


class ApiError(LrcastError):
    """The server answered with an error (``application/problem+json``).

    Attributes: ``status`` (the HTTP status), ``title``, ``detail`` (what went wrong, in a
    sentence), ``errors`` (every bad field, with its dotted path), ``problem`` (the parsed
    problem document, or ``None`` if the body was not one) and ``response``.
    """

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        title: str | None = None,
        errors: list[ErrorDetail] | None = None,
        problem: Problem | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.detail = detail
        self.errors = errors or []
        self.problem = problem
        self.response = response
        super().__init__(detail)

    def __str__(self) -> str:
        text = f"{self.status} {self.title}: {self.detail}"
        fields = [str(e) for e in self.errors if e.path and str(e) not in self.detail]
        return text + "".join(f"\n  {line}" for line in fields)


class BadRequestError(ApiError):
    status = 400
    title = "Bad request"


class UnauthorizedError(ApiError):
    """No token, or an unknown or revoked one (401)."""

    status = 401
    title = "Token required"


class ForbiddenError(ApiError):
    """The token's role is too low (403)."""

    status = 403
    title = "Not allowed"


class NotFoundError(ApiError):
    status = 404
    title = "Not found"


class MethodNotAllowedError(ApiError):
    status = 405
    title = "Method not allowed"


class ConflictError(ApiError):
    """The resource's state refuses this (409): a run bound with another body, a schedule in
    use, an archived run."""

    status = 409
    title = "Conflict"


class PreconditionFailedError(ApiError):
    """``If-Match`` named an ETag that is no longer current (412)."""

    status = 412
    title = "Precondition failed"


class PayloadTooLargeError(ApiError):
    status = 413
    title = "Request body too large"


class UnsupportedMediaTypeError(ApiError):
    status = 415
    title = "Unsupported media type"


class InvalidRequestError(ApiError, ValueError):
    """Invalid input (422): ``errors`` names every bad field."""

    status = 422
    title = "Invalid request"


class TooManyRequestsError(ApiError):
    status = 429
    title = "Too many requests"


class ServerError(ApiError):
    """The server failed (5xx)."""

    status = 500
    title = "Internal server error"


class ServiceUnavailableError(ServerError):
    """The server's database is unreachable, or the run is edited too often (503)."""

    status = 503
    title = "Service unavailable"


class TransportError(LrcastError):
    """The server could not be reached, or the connection failed mid-answer (the httpx error is
    the ``__cause__``)."""

    status = 503
    title = "Server unreachable"


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        MethodNotAllowedError,
        ConflictError,
        PreconditionFailedError,
        PayloadTooLargeError,
        UnsupportedMediaTypeError,
        InvalidRequestError,
        TooManyRequestsError,
        ServerError,
        ServiceUnavailableError,
    )
}


def error_for(response: httpx.Response) -> ApiError:
    """The exception standing for an error answer, with its problem document's detail."""
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    problem: Problem | None = None
    try:
        problem = Problem.model_validate_json(response.content)
    except ValidationError:
        problem = None
    if problem is None:
        text = response.text.strip()[:500] or response.reason_phrase or "no detail"
        return cls(text, status=status, response=response)
    return cls(
        problem.detail,
        status=status,
        title=problem.title,
        errors=[ErrorDetail(e.path, e.message) for e in problem.errors],
        problem=problem,
        response=response,
    )
