"""Durations: a number of steps, or ``"12ep"`` / ``"5%"`` resolved against a run's context.

A duration is an integer number of steps, or a string: ``"12ep"`` is 12 epochs (needs
``steps_per_epoch``), ``"5%"`` is 5 % of ``total_steps``. Fractions are allowed (``"1.5ep"``,
``"2.5%"``) and round to the nearest step, halves up. Resolving a string without its context is a
clear error, never a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from lrcast._errors import EvaluationError

MAX_STEP = 2**53 - 1
"""The largest step lrcast accepts: every step up to it is exact in float64."""

_DURATION = re.compile(r"^([0-9]{1,16}(?:\.[0-9]{1,16})?)(ep|%)$")
"""ASCII digits only (``\\d`` would take "٥٠ep"), matched whole (``$`` alone lets a trailing
newline through)."""

DURATION_FIELDS = frozenset(
    {"steps", "every", "period", "up", "down", "warmup", "stable", "decay", "begin", "timescale"}
)
"""Fields holding one duration. ``boundaries`` and ``milestones`` hold lists of them, and
``points`` holds ``[duration, value]`` pairs."""


def _check_duration(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError('must be an integer number of steps, or a string like "12ep" or "5%"')
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be >= 0")
        if value > MAX_STEP:
            raise ValueError(f"must be <= {MAX_STEP}")
        return value
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(f'{value!r} is not a duration: use steps, "12ep" or "5%"')
    if match[2] == "%" and Fraction(match[1]) > 100:
        raise ValueError(f"{value!r} is more than 100% of the run")
    return value


Duration = Annotated[
    int | str,
    PlainValidator(_check_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_STEP},
                {"type": "string", "pattern": _DURATION.pattern},
            ],
            "description": 'Steps, or "12ep" (epochs, needs steps_per_epoch) or "5%" '
            "(of total_steps).",
        }
    ),
]
"""A duration field: validated here, resolved to steps by :func:`resolve_duration`."""


@dataclass(frozen=True)
class Context:
    """What ``"ep"`` and ``"%"`` durations are resolved against: a run's settings."""

    total_steps: int | None = None
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        for name in ("total_steps", "steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_STEP
            ):
                raise EvaluationError(f"must be an integer from 1 to {MAX_STEP}", path=name)


def resolve_duration(value: int | str, context: Context, path: str) -> int:
    """The number of steps ``value`` stands for, in ``context``."""
    if isinstance(value, int):
        return value
    match = _DURATION.fullmatch(value)
    if match is None:  # pragma: no cover - the models only admit matching strings
        raise EvaluationError(f"{value!r} is not a duration", path=path)
    number, unit = Fraction(match[1]), match[2]
    if unit == "ep":
        if context.steps_per_epoch is None:
            raise EvaluationError(
                f"{value!r} is in epochs and no steps_per_epoch is given", path=path
            )
        steps = number * context.steps_per_epoch
    else:
        if context.total_steps is None:
            raise EvaluationError(
                f"{value!r} is a share of the run and no total_steps is given", path=path
            )
        steps = number * context.total_steps / 100
    resolved = math.floor(steps + Fraction(1, 2))
    if resolved > MAX_STEP:
        raise EvaluationError(f"{value!r} is more than {MAX_STEP} steps", path=path)
    return resolved
