"""The schedule language as Pydantic models: one model per curve ``type`` (SPEC.md).

Validation happens here, once, by raising: a model that exists is a curve the math can evaluate
for every step (given its duration context). Field names and defaults are SPEC.md's.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PrivateAttr,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from lrcast._durations import MAX_STEP, Duration
from lrcast._expression import MAX_EXPRESSION_LENGTH, Expression, compile_expression

MAX_DEPTH = 8
"""How deep curves may nest (a top-level curve is depth 1)."""
MAX_CURVES = 256
"""Named curves in one document."""
MAX_LIST = 10_000
"""Entries in any one list (boundaries, milestones, values, points, curves)."""
MAX_DOCUMENT_BYTES = 256 * 1024
"""A document's size as JSON."""

# Parsed once whether the validator or the model asks (an Expression is immutable).
_compile_expression = functools.lru_cache(maxsize=1024)(compile_expression)

CURVE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")

Value = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
"""A value a curve can take: finite and non-negative."""
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
"""A finite, strictly positive parameter (a factor, a rate, an exponent)."""
Decay = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]
"""A factor applied again and again without end: at most 1, or the curve would overflow."""


class _Curve(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # ``type`` has a default so that ``lrcast.Cosine(start=..., steps=...)`` reads well in
        # Python, but in JSON it is the tag that picks the curve: a curve without it is refused.
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["properties"]["type"].pop("default", None)
        schema["required"] = ["type", *(f for f in schema.get("required", []) if f != "type")]
        return schema


def _positive(value: int | str) -> int | str:
    if isinstance(value, int) and value <= 0:
        raise ValueError("must be > 0")
    return value


PositiveSteps = Annotated[Duration, AfterValidator(_positive)]
"""A duration that must be at least one step."""


def _strictly_increasing(values: list[int | str], what: str) -> None:
    """Refuse unsorted steps; strings are checked again once resolved to steps."""
    known = [v for v in values if isinstance(v, int)]
    if len(known) == len(values) and any(b <= a for a, b in itertools.pairwise(known)):
        raise ValueError(f"{what} must be strictly increasing")


class Constant(_Curve):
    """``value`` at every step. Same as torch ``ConstantLR`` after its iterations."""

    type: Literal["constant"] = "constant"
    value: Value

    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "constant", "value": 0.1}]})


class Step(_Curve):
    """``start * factor ** (t // every)``: torch ``StepLR``, Keras staircase exponential."""

    type: Literal["step"] = "step"
    start: Value
    every: PositiveSteps
    factor: Decay = 0.1

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"type": "step", "start": 0.1, "every": 30, "factor": 0.1}]}
    )


class MultiStep(_Curve):
    """``start * factor ** #{m <= t}``: torch ``MultiStepLR``; repeated milestones compound."""

    type: Literal["multistep"] = "multistep"
    start: Value
    milestones: Annotated[list[Duration], Field(max_length=MAX_LIST)]
    factor: Value = 0.1

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "multistep", "start": 0.1, "milestones": [30, 60, 80]}]
        }
    )

    @field_validator("milestones")
    @classmethod
    def _sorted(cls, value: list[int | str]) -> list[int | str]:
        known = [v for v in value if isinstance(v, int)]
        if len(known) == len(value) and known != sorted(known):
            raise ValueError("milestones must be sorted")
        return value


class Piecewise(_Curve):
    """``values[#{b <= t}]``: the new value starts at its boundary. optax ``piecewise_constant``."""

    type: Literal["piecewise"] = "piecewise"
    boundaries: Annotated[list[Duration], Field(max_length=MAX_LIST)]
    values: Annotated[list[Value], Field(min_length=1, max_length=MAX_LIST)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "piecewise", "boundaries": [1000, 2000], "values": [1, 0.5, 0.1]}]
        }
    )

    @model_validator(mode="after")
    def _shape(self) -> Piecewise:
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError("values must have one more entry than boundaries")
        _strictly_increasing(self.boundaries, "boundaries")
        return self


class Exponential(_Curve):
    """``start * factor ** ((t - begin) / every)`` after ``begin``, clipped at ``limit``."""

    type: Literal["exponential"] = "exponential"
    start: Value
    factor: Value
    every: PositiveSteps = 1
    staircase: StrictBool = False
    begin: Duration = 0
    limit: Value | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "exponential", "start": 0.1, "factor": 0.96, "every": 1000}]
        }
    )

    @model_validator(mode="after")
    def _bounded(self) -> Exponential:
        if self.factor > 1 and self.limit is None:
            raise ValueError("a growing exponential (factor > 1) needs a limit")
        return self


class InverseTime(_Curve):
    """``start / (1 + rate * t / every)``: Keras ``InverseTimeDecay``."""

    type: Literal["inverse_time"] = "inverse_time"
    start: Value
    rate: Value
    every: PositiveSteps = 1
    staircase: StrictBool = False

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "inverse_time", "start": 0.1, "rate": 0.5, "every": 1000}]
        }
    )


class Polynomial(_Curve):
    """``(start - end) * (1 - s / steps) ** power + end``, ``s = clip(t - begin, 0, steps)``."""

    type: Literal["polynomial"] = "polynomial"
    start: Value
    end: Value = 0.0
    steps: PositiveSteps
    power: Positive = 1.0
    cycle: StrictBool = False
    begin: Duration = 0

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"type": "polynomial", "start": 0.1, "end": 0.0, "steps": 10000, "power": 2}
            ]
        }
    )


class Linear(_Curve):
    """``start`` to ``end`` in a straight line over ``steps`` from ``begin``, then ``end``."""

    type: Literal["linear"] = "linear"
    start: Value
    end: Value
    steps: PositiveSteps
    begin: Duration = 0

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "linear", "start": 0.1, "end": 0.0, "steps": 1000}]
        }
    )


class Cosine(_Curve):
    """``end + (start - end) * (0.5 * (1 + cos(2π·cycles·p))) ** exponent``, ``p = t / steps``."""

    type: Literal["cosine"] = "cosine"
    start: Value
    end: Value = 0.0
    steps: PositiveSteps
    exponent: Positive = 1.0
    cycles: Positive = 0.5
    periodic: StrictBool = False

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "cosine", "start": 0.4, "end": 0.0, "steps": 44500}]
        }
    )


class CosineRestarts(_Curve):
    """Cosine cycles ``i`` of ``period * period_factor ** i`` steps, peaking at
    ``start * peak_factor ** i``: torch ``CosineAnnealingWarmRestarts``, SGDR."""

    type: Literal["cosine_restarts"] = "cosine_restarts"
    start: Value
    end: Value = 0.0
    period: PositiveSteps
    period_factor: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1
    peak_factor: Decay = 1.0
    cycles: Annotated[StrictInt, Field(ge=1, le=MAX_STEP)] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"type": "cosine_restarts", "start": 0.1, "period": 1000, "period_factor": 2}
            ]
        }
    )


class Cyclic(_Curve):
    """torch ``CyclicLR``: triangles between ``base`` and ``peak`` (``up`` then ``down`` steps)."""

    type: Literal["cyclic"] = "cyclic"
    base: Value
    peak: Value
    up: PositiveSteps
    down: PositiveSteps | None = None
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)] = 1.0

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"type": "cyclic", "base": 0.001, "peak": 0.1, "up": 2000}]}
    )


class OneCycle(_Curve):
    """torch ``OneCycleLR``: ``start`` up to ``peak``, then down to ``end`` at ``steps - 1``."""

    type: Literal["one_cycle"] = "one_cycle"
    peak: Value
    steps: PositiveSteps
    warm_fraction: Annotated[float, Field(gt=0, lt=1, strict=True)] = 0.3
    start: Value | None = None
    end: Value | None = None
    shape: Literal["cos", "linear"] = "cos"
    three_phase: StrictBool = False

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"type": "one_cycle", "peak": 0.1, "steps": 10000}]}
    )

    @model_validator(mode="after")
    def _phases(self) -> OneCycle:
        check_one_cycle_steps(self)
        return self


def check_one_cycle_steps(curve: OneCycle) -> None:
    """Refuse phases that would be empty (torch divides by zero on them)."""
    steps = curve.steps
    if not isinstance(steps, int):
        return
    warm = curve.warm_fraction * steps
    if warm - 1 <= 0:
        raise ValueError("warm_fraction * steps must be more than 1 step")
    if curve.three_phase and (steps - 1) - (2 * warm - 2) <= 0:
        raise ValueError("with three_phase, warm_fraction * steps must leave a last phase")


class InverseSqrt(_Curve):
    """``peak / sqrt((t - warmup + timescale) / timescale)`` after a linear warmup (HF)."""

    type: Literal["inverse_sqrt"] = "inverse_sqrt"
    peak: Value
    warmup: Duration = 0
    timescale: PositiveSteps | None = None
    start: Value = 0.0

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"type": "inverse_sqrt", "peak": 0.001, "warmup": 4000}]}
    )


class WSD(_Curve):
    """Warmup, stable, decay: HF ``warmup_stable_decay``, timm ``WSDLRScheduler``."""

    type: Literal["wsd"] = "wsd"
    peak: Value
    warmup: Duration
    stable: Duration
    decay: Duration
    end: Value = 0.0
    start: Value | None = None
    warmup_shape: Literal["linear", "cosine", "sqrt"] = "linear"
    decay_shape: Literal["cosine", "linear", "sqrt"] = "cosine"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"type": "wsd", "peak": 0.001, "warmup": 1000, "stable": 8000, "decay": 1000}
            ]
        }
    )


class Interpolate(_Curve):
    """Between neighbouring ``points`` by ``shape``; the first value before, the last after."""

    type: Literal["interpolate"] = "interpolate"
    points: Annotated[list[tuple[Duration, Value]], Field(min_length=1, max_length=MAX_LIST)]
    shape: Literal["linear", "cosine", "exponential", "step"] = "linear"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "interpolate", "points": [[0, 0.0], [100, 0.1], [1000, 0.001]]}]
        }
    )

    @model_validator(mode="after")
    def _points(self) -> Interpolate:
        _strictly_increasing([step for step, _ in self.points], "point steps")
        if self.shape == "exponential" and any(value <= 0 for _, value in self.points):
            raise ValueError("exponential interpolation needs every value > 0")
        return self


class ExpressionCurve(_Curve):
    """A safe arithmetic expression in ``t``, evaluated with numpy: torch ``LambdaLR`` as data."""

    type: Literal["expression"] = "expression"
    expr: Annotated[str, Field(max_length=MAX_EXPRESSION_LENGTH, strict=True)]
    _compiled: Expression = PrivateAttr()

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "expression", "expr": "0.1 * min(1, (t + 1) / 500)"}]
        }
    )

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        _compile_expression(value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._compiled = _compile_expression(self.expr)

    @property
    def compiled(self) -> Expression:
        """The parsed expression, ready to evaluate."""
        return self._compiled


class Warmup(_Curve):
    """``start → then(0)`` over ``steps`` (by ``shape``), then ``then(t - steps)``."""

    type: Literal["warmup"] = "warmup"
    steps: Duration
    start: Value = 0.0
    shape: Literal["linear", "cosine", "exponential"] = "linear"
    then: Curve

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "warmup",
                    "steps": 500,
                    "then": {"type": "cosine", "start": 0.4, "steps": 44500},
                }
            ]
        }
    )

    @model_validator(mode="after")
    def _start(self) -> Warmup:
        if self.shape == "exponential" and self.start <= 0:
            raise ValueError("an exponential warmup needs start > 0")
        return self


class Sequence(_Curve):
    """``curves[i](t - boundaries[i-1])`` between boundaries: torch ``SequentialLR``."""

    type: Literal["sequence"] = "sequence"
    curves: Annotated[list[Curve], Field(min_length=1, max_length=MAX_LIST)]
    boundaries: Annotated[list[Duration], Field(max_length=MAX_LIST)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "sequence",
                    "curves": [
                        {"type": "linear", "start": 0.0, "end": 0.1, "steps": 100},
                        {"type": "exponential", "start": 0.1, "factor": 0.999},
                    ],
                    "boundaries": [100],
                }
            ]
        }
    )

    @model_validator(mode="after")
    def _shape(self) -> Sequence:
        if len(self.boundaries) != len(self.curves) - 1:
            raise ValueError("boundaries must have one entry fewer than curves")
        if any(isinstance(b, int) and b <= 0 for b in self.boundaries):
            raise ValueError("boundaries must be > 0")
        _strictly_increasing(self.boundaries, "boundaries")
        return self


class Product(_Curve):
    """The elementwise product of ``curves``: torch ``ChainedScheduler`` of factors."""

    type: Literal["product"] = "product"
    curves: Annotated[list[Curve], Field(min_length=1, max_length=MAX_LIST)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "product",
                    "curves": [
                        {"type": "cosine", "start": 0.1, "steps": 1000},
                        {"type": "step", "start": 1.0, "every": 300, "factor": 0.5},
                    ],
                }
            ]
        }
    )


AnyCurve = Union[  # noqa: UP007 - spelled out, one family a line
    Constant,
    Step,
    MultiStep,
    Piecewise,
    Exponential,
    InverseTime,
    Polynomial,
    Linear,
    Cosine,
    CosineRestarts,
    Cyclic,
    OneCycle,
    InverseSqrt,
    WSD,
    Interpolate,
    ExpressionCurve,
    Warmup,
    Sequence,
    Product,
]
"""Any curve model."""

Curve = Annotated[AnyCurve, Field(discriminator="type")]
"""Any curve, chosen by its ``type``: the field type of nested curves."""

CURVE_MODELS: tuple[type[AnyCurve], ...] = get_args(AnyCurve)
CURVE_TYPES: dict[str, type[AnyCurve]] = {
    model.model_fields["type"].default: model for model in CURVE_MODELS
}
"""Each curve ``type`` and its model."""

for _model in (Warmup, Sequence, Product):
    _model.model_rebuild()


def curve_depth(data: Any, limit: int = MAX_DEPTH) -> int:
    """How deep raw curve data nests, stopping early past ``limit`` (no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        then = node.get("then")
        if isinstance(then, dict):
            stack.append((then, depth + 1))
        children = node.get("curves")
        if isinstance(children, list):
            stack.extend((child, depth + 1) for child in children[: MAX_LIST + 1])
    return deepest


class ScheduleDocument(BaseModel):
    """Named curves, ``lr`` required: the body of every schedule version."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "description": "ResNet-50, 90 epochs",
                    "curves": {
                        "lr": {
                            "type": "warmup",
                            "steps": 500,
                            "start": 0.0,
                            "then": {"type": "cosine", "start": 0.4, "end": 0.0, "steps": 44500},
                        },
                        "weight_decay": {"type": "constant", "value": 5e-5},
                    },
                }
            ]
        },
    )

    description: Annotated[str, Field(max_length=10_000, strict=True)] | None = None
    curves: Annotated[
        dict[str, Curve],
        Field(
            min_length=1,
            max_length=MAX_CURVES,
            json_schema_extra={
                "propertyNames": {"pattern": CURVE_NAME.pattern},
                "required": ["lr"],
            },
        ),
    ]

    @model_validator(mode="before")
    @classmethod
    def _depth(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("curves"), dict):
            for name, curve in list(data["curves"].items())[: MAX_CURVES + 1]:
                if curve_depth(curve) > MAX_DEPTH:
                    raise ValueError(f"curve {name!r} nests deeper than {MAX_DEPTH} levels")
        return data

    @field_validator("curves")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not CURVE_NAME.match(name):
                raise ValueError(f"curve name {name!r} must match {CURVE_NAME.pattern}")
        if "lr" not in value:
            raise ValueError("a document must have an 'lr' curve")
        return value

    @model_validator(mode="after")
    def _size(self) -> ScheduleDocument:
        # Measured as stored: the fields given, in compact JSON. However the document came (a
        # dict, a model, the body of a publish or of an inline evaluation), the limit is one.
        if len(self.model_dump_json(exclude_unset=True).encode()) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
        return self
