"""Turning Pydantic's errors into lrcast's: a dotted path to the bad field and a plain reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import pydantic

from lrcast._errors import ErrorDetail, ScheduleValidationError
from lrcast._models import CURVE_TYPES, MAX_DOCUMENT_BYTES

_T = TypeVar("_T")

# Positions after which a curve's discriminator tag appears in a Pydantic location.
_CURVE_SLOTS = ("then",)


def _is_tag(loc: tuple[Any, ...], index: int, root_is_curve: bool) -> bool:
    if loc[index] not in CURVE_TYPES:
        return False
    if index == 0:
        return root_is_curve
    return loc[index - 1] in _CURVE_SLOTS or (index >= 2 and loc[index - 2] == "curves")


def error_path(loc: Iterable[Any], *, root_is_curve: bool = False) -> str:
    """``('curves', 'lr', 'warmup', 'then', 'cosine', 'steps')`` → ``curves.lr.then.steps``."""
    items = tuple(loc)
    return ".".join(
        str(item) for index, item in enumerate(items) if not _is_tag(items, index, root_is_curve)
    )


def _message(error: Mapping[str, Any]) -> str:
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "finite_number":
        return "must be finite"
    if kind == "union_tag_invalid":
        return f"unknown type {ctx['tag']!r}; expected one of {ctx['expected_tags']}"
    if kind == "union_tag_not_found":
        return "a curve needs a 'type'"
    if kind in ("too_long", "too_short"):
        bound = "at most" if kind == "too_long" else "at least"
        limit = ctx.get("max_length" if kind == "too_long" else "min_length")
        return f"must have {bound} {limit} entries"
    if kind in ("string_too_long", "string_too_short"):
        bound = "at most" if kind == "string_too_long" else "at least"
        limit = ctx.get("max_length" if kind == "string_too_long" else "min_length")
        return f"must have {bound} {limit} characters"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    return message.replace("Input should be", "must be")


def error_details(
    errors: Iterable[Mapping[str, Any]], *, root_is_curve: bool = False, prefix: str = ""
) -> list[ErrorDetail]:
    """lrcast's details for a list of Pydantic (or FastAPI) error dicts."""
    details = []
    for error in errors:
        path = error_path(error.get("loc", ()), root_is_curve=root_is_curve)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        details.append(ErrorDetail(path, _message(error)))
    return details


def validation_errors(exc: pydantic.ValidationError) -> list[ErrorDetail]:
    """lrcast's details for a Pydantic ``ValidationError``."""
    return error_details(exc.errors())


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (``json`` would silently keep the last)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(key)
        result[key] = value
    return result


def loads_strict(text: str | bytes | bytearray) -> Any:
    """``json.loads``, refusing an object that repeats a key (:class:`DuplicateKeyError`)."""
    return json.loads(text, object_pairs_hook=_unique_keys)


def decoded(data: Any) -> Any:
    """``data`` decoded if it is JSON text (refused over the size limit), else as it is."""
    if isinstance(data, str | bytes | bytearray):
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ScheduleValidationError(
                [ErrorDetail("", f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")]
            )
        try:
            return loads_strict(data)
        except DuplicateKeyError as exc:
            message = f"not valid JSON: duplicate key {exc.args[0]!r}"
            raise ScheduleValidationError([ErrorDetail("", message)]) from None
        except (ValueError, RecursionError) as exc:
            raise ScheduleValidationError([ErrorDetail("", f"not valid JSON: {exc}")]) from None
    return data


def parse(validate: Callable[[Any], _T], data: Any, *, root_is_curve: bool = False) -> _T:
    """Validate ``data`` (a dict, or JSON text) with ``validate``, raising lrcast's error."""
    data = decoded(data)
    try:
        return validate(data)
    except pydantic.ValidationError as exc:
        raise ScheduleValidationError(
            error_details(exc.errors(), root_is_curve=root_is_curve)
        ) from None
