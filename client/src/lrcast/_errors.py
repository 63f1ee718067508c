"""The exception tree of the schedule language.

Every error lrcast raises derives from :class:`LrcastError`. Each carries the HTTP status the
server answers with, so one handler turns any of them into ``application/problem+json``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorDetail:
    """One problem with one field: ``path`` is dotted (``curves.lr.then.steps``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class LrcastError(Exception):
    """Base of every lrcast error."""

    status: int = 400
    title: str = "Bad request"


class ScheduleValidationError(LrcastError, ValueError):
    """A schedule document, curve or run setting is invalid.

    ``errors`` lists every bad field with its dotted path and the reason.
    """

    status = 422
    title = "Invalid schedule"

    def __init__(self, errors: list[ErrorDetail]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class EvaluationError(LrcastError, ValueError):
    """A valid schedule cannot be evaluated as asked.

    Raised for a missing context (an ``"ep"`` or ``"%"`` duration without ``steps_per_epoch`` or
    ``total_steps``), a step out of range, or an ``expression`` that gives a negative or
    non-finite value at some step (``step`` names the first one).
    """

    status = 422
    title = "Cannot evaluate"

    def __init__(self, message: str, *, path: str = "", step: int | None = None) -> None:
        self.path = path
        self.step = step
        self.errors = [ErrorDetail(path, message)]
        super().__init__(f"{path}: {message}" if path else message)
