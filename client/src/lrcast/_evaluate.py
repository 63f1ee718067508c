"""From a validated model to numbers: resolve durations, build the curve functions, evaluate.

The server and the client's fallback both compute values here, one whole block at a time
(:meth:`CompiledDocument.block`), so a step always comes out of the same vector computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, overload

import numpy as np
from pydantic import TypeAdapter, ValidationError

from lrcast import _curves
from lrcast._curves import CurveFn, Steps, Values
from lrcast._durations import DURATION_FIELDS, MAX_STEP, Context, resolve_duration
from lrcast._errors import EvaluationError, ScheduleValidationError
from lrcast._models import (
    CURVE_MODELS,
    MAX_DEPTH,
    WSD,
    AnyCurve,
    Constant,
    Cosine,
    CosineRestarts,
    Curve,
    Cyclic,
    Exponential,
    ExpressionCurve,
    Interpolate,
    InverseSqrt,
    InverseTime,
    Linear,
    MultiStep,
    OneCycle,
    Piecewise,
    Polynomial,
    Product,
    ScheduleDocument,
    Sequence,
    Step,
    Warmup,
    curve_depth,
)
from lrcast._validation import decoded, error_details, parse

_CURVE: TypeAdapter[AnyCurve] = TypeAdapter(Curve)
_LIST_DURATIONS = frozenset({"boundaries", "milestones"})


def _validate_curve(data: Any) -> AnyCurve:
    if curve_depth(data) > MAX_DEPTH:
        raise ValueError(f"the curve nests deeper than {MAX_DEPTH} levels")
    return _CURVE.validate_python(data)


def parse_curve(data: Any) -> AnyCurve:
    """Validate one curve (a dict or JSON text); raises :class:`ScheduleValidationError`."""
    try:
        return parse(_validate_curve, data, root_is_curve=True)
    except ValueError as exc:
        if isinstance(exc, ScheduleValidationError):
            raise
        raise ScheduleValidationError(error_details([{"msg": str(exc)}])) from None


def parse_document(data: Any) -> ScheduleDocument:
    """Validate a schedule document (a dict or JSON text); raises
    :class:`ScheduleValidationError` naming every bad field."""
    if isinstance(data, ScheduleDocument):
        return data
    return parse(ScheduleDocument.model_validate, data)


# -- durations ---------------------------------------------------------------------------------


def _has_text_duration(node: Any) -> bool:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in DURATION_FIELDS and isinstance(value, str):
                return True
            if key in _LIST_DURATIONS and any(isinstance(v, str) for v in value):
                return True
            if key == "points" and any(isinstance(p[0], str) for p in value):
                return True
            if key in ("then", "curves") and _has_text_duration(value):
                return True
    elif isinstance(node, list):
        return any(_has_text_duration(item) for item in node)
    return False


def _resolve(node: Any, context: Context, path: str) -> Any:
    """A copy of raw curve data with every duration in steps."""
    if isinstance(node, list):
        return [_resolve(item, context, f"{path}.{i}") for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        here = f"{path}.{key}" if path else key
        if key in DURATION_FIELDS and value is not None:
            out[key] = resolve_duration(value, context, here)
        elif key in _LIST_DURATIONS:
            out[key] = [resolve_duration(v, context, f"{here}.{i}") for i, v in enumerate(value)]
        elif key == "points":
            out[key] = [
                [resolve_duration(s, context, f"{here}.{i}.0"), v] for i, (s, v) in enumerate(value)
            ]
        elif key in ("then", "curves"):
            out[key] = _resolve(value, context, here)
        else:
            out[key] = value
    return out


def resolve_curve(curve: AnyCurve, context: Context, path: str = "") -> AnyCurve:
    """``curve`` with every ``"ep"``/``"%"`` duration turned into steps, validated again (an
    unsorted or empty list may only show once resolved)."""
    data = curve.model_dump()
    if not _has_text_duration(data):
        return curve
    resolved = _resolve(data, context, path)
    try:
        return _CURVE.validate_python(resolved)
    except ValidationError as exc:
        first = error_details(exc.errors(), root_is_curve=True, prefix=path)[0]
        raise EvaluationError(
            f"{first.message} (once its durations are resolved)", path=first.path
        ) from None


# -- building curve functions -----------------------------------------------------------------


def build(curve: AnyCurve) -> CurveFn:
    """The function computing ``curve`` over an array of steps (durations already resolved)."""
    match curve:
        case Constant():
            return partial(_curves.constant, value=curve.value)
        case Step():
            return partial(
                _curves.step, start=curve.start, every=_int(curve.every), factor=curve.factor
            )
        case MultiStep():
            return partial(
                _curves.multistep,
                start=curve.start,
                milestones=[_int(m) for m in curve.milestones],
                factor=curve.factor,
            )
        case Piecewise():
            return partial(
                _curves.piecewise,
                boundaries=[_int(b) for b in curve.boundaries],
                values=curve.values,
            )
        case Exponential():
            return partial(
                _curves.exponential,
                start=curve.start,
                factor=curve.factor,
                every=_int(curve.every),
                staircase=curve.staircase,
                begin=_int(curve.begin),
                limit=curve.limit,
            )
        case InverseTime():
            return partial(
                _curves.inverse_time,
                start=curve.start,
                rate=curve.rate,
                every=_int(curve.every),
                staircase=curve.staircase,
            )
        case Polynomial():
            return partial(
                _curves.polynomial,
                start=curve.start,
                end=curve.end,
                steps=_int(curve.steps),
                power=curve.power,
                cycle=curve.cycle,
                begin=_int(curve.begin),
            )
        case Linear():
            return partial(
                _curves.linear,
                start=curve.start,
                end=curve.end,
                steps=_int(curve.steps),
                begin=_int(curve.begin),
            )
        case Cosine():
            return partial(
                _curves.cosine,
                start=curve.start,
                end=curve.end,
                steps=_int(curve.steps),
                exponent=curve.exponent,
                cycles=curve.cycles,
                periodic=curve.periodic,
            )
        case CosineRestarts():
            return partial(
                _curves.cosine_restarts,
                start=curve.start,
                end=curve.end,
                period=_int(curve.period),
                period_factor=curve.period_factor,
                peak_factor=curve.peak_factor,
                cycles=curve.cycles,
            )
        case Cyclic():
            up = _int(curve.up)
            return partial(
                _curves.cyclic,
                base=curve.base,
                peak=curve.peak,
                up=up,
                down=up if curve.down is None else _int(curve.down),
                mode=curve.mode,
                gamma=curve.gamma,
            )
        case OneCycle():
            start = curve.peak / 25.0 if curve.start is None else curve.start
            return partial(
                _curves.one_cycle,
                peak=curve.peak,
                steps=_int(curve.steps),
                warm_fraction=curve.warm_fraction,
                start=start,
                end=start / 1e4 if curve.end is None else curve.end,
                shape=curve.shape,
                three_phase=curve.three_phase,
            )
        case InverseSqrt():
            warmup = _int(curve.warmup)
            timescale = _int(curve.timescale) if curve.timescale is not None else warmup or 10_000
            return partial(
                _curves.inverse_sqrt,
                peak=curve.peak,
                warmup=warmup,
                timescale=timescale,
                start=curve.start,
            )
        case WSD():
            return partial(
                _curves.wsd,
                peak=curve.peak,
                warmup=_int(curve.warmup),
                stable=_int(curve.stable),
                decay=_int(curve.decay),
                end=curve.end,
                start=curve.end if curve.start is None else curve.start,
                warmup_shape=curve.warmup_shape,
                decay_shape=curve.decay_shape,
            )
        case Interpolate():
            return partial(
                _curves.interpolate,
                points=[(_int(s), v) for s, v in curve.points],
                shape=curve.shape,
            )
        case ExpressionCurve():
            expression = curve.compiled
            return lambda t: expression(t.astype(np.float64))
        case Warmup():
            return partial(
                _curves.warmup,
                steps=_int(curve.steps),
                start=curve.start,
                shape=curve.shape,
                then=build(curve.then),
            )
        case Sequence():
            return partial(
                _curves.sequence,
                curves=[build(c) for c in curve.curves],
                boundaries=[_int(b) for b in curve.boundaries],
            )
        case Product():
            return partial(_curves.product, curves=[build(c) for c in curve.curves])
    raise TypeError(f"not a curve: {curve!r}")  # pragma: no cover


def _int(value: int | str) -> int:
    if not isinstance(value, int):  # pragma: no cover - resolve_curve ran first
        raise TypeError(f"unresolved duration {value!r}")
    return value


# -- steps and checks -------------------------------------------------------------------------


def as_steps(steps: Any) -> Steps:
    """``steps`` as a 1-D int64 array, refusing anything but integers in ``[0, MAX_STEP]``."""
    if isinstance(steps, bool | np.bool_):
        raise EvaluationError("steps must be integers", path="steps")
    array = np.asarray(steps)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise EvaluationError("steps must be integers (a scalar or a 1-D sequence)", path="steps")
    if array.dtype.kind == "u" and int(array.max()) > MAX_STEP:
        raise EvaluationError(f"steps must be <= {MAX_STEP}", path="steps")
    array = array.astype(np.int64, copy=False).reshape(-1)
    if int(array.min()) < 0:
        raise EvaluationError("steps must be >= 0", path="steps")
    if int(array.max()) > MAX_STEP:
        raise EvaluationError(f"steps must be <= {MAX_STEP}", path="steps")
    return array


def checked(values: Values, steps: Steps, path: str) -> Values:
    """``values`` if every one is finite and non-negative, else a clear error naming the step."""
    # Two reductions, no temporaries: NaN fails the min test, inf the max test.
    if values.size == 0 or (values.min() >= 0 and values.max() < np.inf):
        return values
    bad = ~(np.isfinite(values) & (values >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise EvaluationError(
            f"gives {float(values[i])!r} at step {int(steps[i])}; values must be finite and >= 0",
            path=path,
            step=int(steps[i]),
        )
    return values


def run_curve(fn: CurveFn, steps: Steps, path: str) -> Values:
    """Evaluate ``fn`` on ``steps`` quietly (numpy warnings off) and check the result."""
    with np.errstate(all="ignore"):
        values = fn(steps)
    return checked(values, steps, path)


# -- compiled documents -----------------------------------------------------------------------


class CompiledDocument:
    """A schedule document ready to evaluate in one context (``total_steps``,
    ``steps_per_epoch``): every curve resolved and built once."""

    def __init__(self, document: ScheduleDocument, context: Context) -> None:
        self.document = document
        self.context = context
        self.curves: dict[str, CurveFn] = {
            name: build(resolve_curve(curve, context, f"curves.{name}"))
            for name, curve in document.curves.items()
        }

    def evaluate(self, steps: Any) -> dict[str, Values]:
        """Every named curve at ``steps`` (integers in ``[0, MAX_STEP]``)."""
        array = as_steps(steps)
        return {name: run_curve(fn, array, f"curves.{name}") for name, fn in self.curves.items()}

    def block(self, k: int, size: int) -> dict[str, Values]:
        """Block ``k``: steps ``[k*size, (k+1)*size)``, the unit of every computation."""
        return self.evaluate(np.arange(k * size, (k + 1) * size, dtype=np.int64))


def compile_document(
    document: ScheduleDocument | Mapping[str, Any] | str | bytes,
    *,
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
) -> CompiledDocument:
    """Validate (if needed), resolve and build ``document`` for repeated evaluation."""
    return CompiledDocument(
        parse_document(document), Context(total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    )


@overload
def evaluate(
    curve: Any, steps: int, *, total_steps: int | None = ..., steps_per_epoch: int | None = ...
) -> Any: ...
@overload
def evaluate(
    curve: Any, steps: Any, *, total_steps: int | None = ..., steps_per_epoch: int | None = ...
) -> Any: ...
def evaluate(
    curve: Any,
    steps: Any,
    *,
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
) -> Any:
    """Evaluate a curve or a whole schedule document.

    Args:
      curve: a curve (``{"type": "cosine", ...}`` or a model), or a document (``{"curves":
        {...}}`` or a :class:`ScheduleDocument`); either as JSON text too.
      steps: an ``int`` (returns a ``float``) or a sequence or array of ints (returns a float64
        numpy array).
      total_steps: the run length ``"5%"`` durations refer to.
      steps_per_epoch: the epoch length ``"12ep"`` durations refer to.

    Returns:
      For a curve, its value(s); for a document, a dict of curve name to value(s).

    Example:
      >>> lrcast.evaluate({"type": "step", "start": 0.1, "every": 30}, [0, 30, 60])
      array([0.1  , 0.01 , 0.001])
    """
    scalar = isinstance(steps, int | np.integer) and not isinstance(steps, bool)
    context = Context(total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    curve = decoded(curve)  # JSON text of a curve or of a document
    if isinstance(curve, ScheduleDocument) or (
        isinstance(curve, Mapping) and "curves" in curve and "type" not in curve
    ):
        compiled = CompiledDocument(parse_document(curve), context)
        values = compiled.evaluate(steps)
        return {k: float(v[0]) for k, v in values.items()} if scalar else values
    model = curve if isinstance(curve, CURVE_MODELS) else parse_curve(curve)
    fn = build(resolve_curve(model, context))
    out = run_curve(fn, as_steps(steps), "")
    return float(out[0]) if scalar else out
