"""The HTTP API's bodies: what the server accepts and answers, and what the client returns.

One vocabulary with SPEC.md and DESIGN.md: a run has ``schedule``, ``version`` (an integer pins
one version, ``"latest"`` follows new ones), ``scale``, ``offset``, ``groups``, ``block``,
``total_steps`` and ``steps_per_epoch``; its timeline is a list of segments. No FastAPI, no
database here: the server and the HTTP client share these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    WithJsonSchema,
    field_validator,
)

from lrcast._durations import MAX_STEP
from lrcast._models import ScheduleDocument
from lrcast._timeline import Segment

SCHEDULE_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}$"
RUN_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,199}$"
GROUP_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
MAX_BLOCK = 8192
"""The largest ``block`` a run may have (steps per block)."""
MAX_GROUPS = 256
MAX_LEASE_BLOCKS = 64
"""The most blocks one lease may cover (and at most the server's ``max_points`` steps)."""

ScheduleName = Annotated[
    str,
    Field(
        pattern=SCHEDULE_NAME_PATTERN,
        description="A schedule's name: lowercase letters, digits, `.`, `_`, `-`.",
        examples=["resnet50"],
    ),
]
RunId = Annotated[
    str,
    Field(
        pattern=RUN_ID_PATTERN,
        description="A run's id: lowercase letters, digits, `.`, `_`, `-`; 200 at most.",
        examples=["resnet50-seed1"],
    ),
]
Step = Annotated[StrictInt, Field(ge=0, le=MAX_STEP, description="A training step (0 first).")]
MAX_VERSION = 2**31 - 1
"""The largest schedule version number (a 32-bit column)."""
VersionNumber = Annotated[
    StrictInt, Field(ge=1, le=MAX_VERSION, description="A schedule version (1 first).")
]


def _follow(value: Any) -> int | str:
    if value == "latest" and isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError('must be a version number or "latest"')
    if value < 1:
        raise ValueError("must be >= 1")
    if value > MAX_VERSION:
        raise ValueError(f"must be <= {MAX_VERSION}")
    return value


Follow = Annotated[
    int | Literal["latest"],
    PlainValidator(_follow),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                {"const": "latest"},
            ],
            "description": 'A version number pins it; `"latest"` follows every new version.',
        }
    ),
]


def _not_null(schema: dict[str, Any]) -> None:
    """Document an optional field as "give a value or leave it out" (null is refused)."""
    options = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    schema.pop("default", None)


def _no_negative_zero(value: float) -> float:
    # -0.0 + 0.0 is 0.0, any other float is itself: SQLite stores -0.0 as 0.0 and PostgreSQL
    # keeps its sign, which would answer -0.0 on one database and 0.0 on the other.
    return value + 0.0


_FINITE = Field(strict=True, allow_inf_nan=False)
_POSITIVE_ZERO = AfterValidator(_no_negative_zero)
_Number = Annotated[float, _FINITE, _POSITIVE_ZERO]
"""A finite JSON number (``true`` or ``"2"`` are refused, not read as 1.0 and 2.0). Bounds go
before the validator (``Annotated[float, _FINITE, Field(ge=0), _POSITIVE_ZERO]``): placed
after it, they hold but are missing from the JSON Schema."""
_NonNegative = Annotated[float, _FINITE, Field(ge=0), _POSITIVE_ZERO]
Scale = Annotated[
    float, _FINITE, Field(ge=0, description="Multiplies lr (and every group's lr)."), _POSITIVE_ZERO
]
Offset = Annotated[
    StrictInt, Field(ge=0, le=MAX_STEP, description="Added to the step the curves see.")
]
Multiplier = _NonNegative
Groups = Annotated[
    dict[Annotated[str, Field(pattern=GROUP_NAME_PATTERN)], Multiplier],
    Field(
        max_length=MAX_GROUPS,
        description="Parameter group name → lr multiplier; each group's lr is lr × multiplier.",
        examples=[{"backbone": 0.1, "head": 1.0}],
        # A name outside the pattern is refused: say so beside patternProperties.
        json_schema_extra={"additionalProperties": False},
    ),
]
Block = Annotated[
    StrictInt,
    Field(ge=1, le=MAX_BLOCK, description="Steps per block; fixed for the run's life."),
]
RunLength = Annotated[StrictInt, Field(ge=1, le=MAX_STEP)]
Clock = Literal["global", "restart"]
METRIC_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_./:-]{0,127}$"
MetricName = Annotated[
    str,
    Field(
        pattern=METRIC_NAME_PATTERN,
        description="A metric's name: letters, digits, `_ . / : -`; 128 at most.",
        examples=["val_loss"],
    ),
]


class Plateau(BaseModel):
    """Reduce-on-plateau: torch's ``ReduceLROnPlateau`` rule, driven by the reports of
    ``metric`` (``POST /v1/runs/{run}/metrics``) and applied as a multiplier on lr from the first
    block boundary past the reported step and the horizon."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"metric": "val_loss", "patience": 2, "factor": 0.5}]},
    )

    metric: MetricName
    mode: Literal["min", "max"] = "min"
    factor: Annotated[
        float,
        _FINITE,
        Field(gt=0, lt=1, description="Multiplies lr at each reduction."),
        _POSITIVE_ZERO,
    ] = 0.1
    patience: Annotated[
        StrictInt,
        Field(ge=0, le=MAX_STEP, description="Reduce after `patience + 1` bad reports in a row."),
    ] = 10
    threshold: _NonNegative = 1e-4
    threshold_mode: Literal["rel", "abs"] = "rel"
    cooldown: Annotated[StrictInt, Field(ge=0, le=MAX_STEP)] = 0
    min_lr: Annotated[
        float, _FINITE, Field(ge=0, description="No reduction takes lr below it."), _POSITIVE_ZERO
    ] = 0.0
    eps: Annotated[
        float,
        _FINITE,
        Field(ge=0, description="A reduction changing lr by no more is skipped."),
        _POSITIVE_ZERO,
    ] = 1e-8


def _answer(*examples: dict[str, Any]) -> ConfigDict:
    """An answer's config with its OpenAPI examples."""
    return ConfigDict(extra="ignore", json_schema_extra={"examples": list(examples)})


_WHEN = "2025-01-01T12:00:00Z"
_DOCUMENT: dict[str, Any] = {
    "description": "cosine over 1000 steps",
    "curves": {"lr": {"type": "cosine", "start": 0.1, "end": 0.0, "steps": 1000}},
}
_SEGMENT: dict[str, Any] = {
    "from_step": 0,
    "schedule": "resnet50",
    "version": 1,
    "scale": 2.0,
    "offset": 0,
    "clock": "global",
    "groups": {"backbone": 0.1},
    "total_steps": 45000,
    "steps_per_epoch": 500,
}
_VERSION: dict[str, Any] = {
    "name": "resnet50",
    "version": 1,
    "document": _DOCUMENT,
    "created": _WHEN,
    "created_by": "ci",
}
_RUN: dict[str, Any] = {
    "id": "resnet50-seed1",
    "schedule": "resnet50",
    "version": "latest",
    "scale": 2.0,
    "offset": 0,
    "groups": {"backbone": 0.1},
    "block": 256,
    "total_steps": 45000,
    "steps_per_epoch": 500,
    "horizon": 1279,
    "last_step_seen": 1200,
    "archived": False,
    "created": _WHEN,
    "updated": _WHEN,
    "timeline": [_SEGMENT],
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- errors -----------------------------------------------------------------------------------


class ProblemError(_Answer):
    """One bad field: its dotted path and what is wrong with it."""

    path: str = Field(examples=["curves.lr.then.steps"])
    message: str = Field(examples=["must be > 0"])


class Problem(_Answer):
    """An error, as ``application/problem+json`` (RFC 9457)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:lrcast:problem:invalid-schedule",
                    "title": "Invalid schedule",
                    "status": 422,
                    "detail": "curves.lr.steps: must be > 0",
                    "errors": [{"path": "curves.lr.steps", "message": "must be > 0"}],
                }
            ]
        }
    )

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, in a sentence.")
    errors: list[ProblemError] = Field(
        default_factory=list, description="For invalid input: every bad field."
    )


# -- schedules --------------------------------------------------------------------------------


class ScheduleVersionRead(_Answer):
    """One immutable version of a schedule."""

    model_config = _answer(_VERSION)

    name: str
    version: int
    document: ScheduleDocument
    created: datetime
    created_by: str | None = Field(None, description="The token that published it.")


class RunSwitch(_Answer):
    """A run that follows ``latest`` and switches to a newly published version."""

    model_config = _answer({"run": "resnet50-seed1", "effective_step": 1280})

    run: str
    effective_step: int = Field(description="The first step answered from the new version.")


class PublishResult(ScheduleVersionRead):
    """The version a publication created (or the latest one, if the document was the same)."""

    model_config = _answer(
        {**_VERSION, "published": True, "runs": [{"run": "resnet50-seed1", "effective_step": 1280}]}
    )

    published: bool = Field(
        description="False when the document equals the latest version: nothing changed."
    )
    runs: list[RunSwitch] = Field(
        default_factory=list, description="Runs following `latest`, with the step they switch at."
    )


class ScheduleSummary(_Answer):
    model_config = _answer(
        {
            "name": "resnet50",
            "latest_version": 3,
            "description": "cosine",
            "created": _WHEN,
            "updated": _WHEN,
        }
    )
    name: str
    latest_version: int
    description: str | None = None
    created: datetime
    updated: datetime


class SchedulePage(_Answer):
    model_config = _answer(
        {
            "items": [
                {
                    "name": "resnet50",
                    "latest_version": 3,
                    "description": None,
                    "created": _WHEN,
                    "updated": _WHEN,
                }
            ],
            "next_cursor": "resnet50",
        }
    )
    items: list[ScheduleSummary]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class VersionSummary(_Answer):
    model_config = _answer(
        {
            "name": "resnet50",
            "version": 1,
            "description": None,
            "created": _WHEN,
            "created_by": "ci",
        }
    )
    name: str
    version: int
    description: str | None = None
    created: datetime
    created_by: str | None = None


class VersionPage(_Answer):
    model_config = _answer(
        {
            "items": [
                {
                    "name": "resnet50",
                    "version": 1,
                    "description": None,
                    "created": _WHEN,
                    "created_by": "ci",
                }
            ],
            "next_cursor": None,
        }
    )
    items: list[VersionSummary]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class ScheduleLrAnswer(_Answer):
    """A stored schedule's values at one step (no run: no scale, offset or groups)."""

    model_config = _answer(
        {"schedule": "resnet50", "version": 1, "step": 500, "lr": 0.05, "values": {"lr": 0.05}}
    )

    schedule: str
    version: int
    step: int
    lr: float
    values: dict[str, float] = Field(description="Every named curve, `lr` included.")


class ScheduleRangeAnswer(_Answer):
    """A stored schedule's values over a range of steps."""

    model_config = _answer(
        {"schedule": "resnet50", "version": 1, "steps": [0, 500], "values": {"lr": [0.1, 0.05]}}
    )

    schedule: str
    version: int
    steps: list[int]
    values: dict[str, list[float]]


# -- evaluation of an inline document ---------------------------------------------------------


class EvaluateRequest(_Body):
    """A document to evaluate over ``range(start, stop, every)`` without storing it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "document": {
                        "curves": {
                            "lr": {
                                "type": "warmup",
                                "steps": 100,
                                "then": {"type": "cosine", "start": 0.1, "steps": 900},
                            }
                        }
                    },
                    "start": 0,
                    "stop": 1000,
                    "every": 100,
                }
            ]
        },
    )

    document: ScheduleDocument
    start: Step = 0
    stop: Annotated[StrictInt, Field(ge=0, le=MAX_STEP + 1, description="First step not given.")]
    every: Annotated[StrictInt, Field(ge=1, le=MAX_STEP)] = 1
    total_steps: RunLength | None = None
    steps_per_epoch: RunLength | None = None


class EvaluateAnswer(_Answer):
    model_config = _answer({"steps": [0, 500], "values": {"lr": [0.1, 0.05]}})
    steps: list[int]
    values: dict[str, list[float]]


# -- runs -------------------------------------------------------------------------------------


class TimelineSegment(Segment):
    """One piece of a run's timeline, with everything needed to compute its blocks: evaluate
    ``schedule`` version ``version`` compiled with ``total_steps`` and ``steps_per_epoch``
    through :func:`lrcast.segment_block`, then each group's lr is lr × its multiplier."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [_SEGMENT]}
    )

    groups: dict[str, float] = Field(default_factory=dict)
    total_steps: int | None = None
    steps_per_epoch: int | None = None


class RunCreate(_Body):
    """Bind a run to a schedule. Repeating the same body is a no-op."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "schedule": "resnet50",
                    "version": "latest",
                    "scale": 2.0,
                    "groups": {"backbone": 0.1},
                    "total_steps": 45000,
                    "steps_per_epoch": 500,
                }
            ]
        },
    )

    schedule: ScheduleName
    version: Follow = "latest"
    scale: Scale = 1.0
    offset: Offset = 0
    groups: Groups = Field(default_factory=dict)
    block: Block = 256
    total_steps: RunLength | None = Field(None, description='What "5%" durations refer to.')
    steps_per_epoch: RunLength | None = Field(None, description='What "12ep" durations refer to.')
    plateau: Plateau | None = Field(None, description="Reduce lr when a metric plateaus.")


class RunPatch(_Body):
    """Edit a run from ``at_step`` (or the first step not yet answered) onward.

    Fields left out keep their value; ``total_steps`` and ``steps_per_epoch`` may be set to
    ``null`` to drop them. Without ``clock`` the curves keep counting steps as before the edit;
    ``"restart"`` makes them start again from 0 at the effective step, ``"global"`` makes them see
    the run's own step.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"scale": 0.5}, {"version": 3, "at_step": 12000}]},
    )

    # Left out: unchanged. Only the run context can be set to null (dropped).
    schedule: ScheduleName | None = Field(None, json_schema_extra=_not_null)
    version: Follow | None = Field(None, json_schema_extra=_not_null)
    scale: Scale | None = Field(None, json_schema_extra=_not_null)
    offset: Offset | None = Field(None, json_schema_extra=_not_null)
    groups: Groups | None = Field(None, json_schema_extra=_not_null)
    total_steps: RunLength | None = None
    steps_per_epoch: RunLength | None = None
    plateau: Plateau | None = Field(
        None,
        description="New reduce-on-plateau settings (its state starts afresh; reductions "
        "already made stay); `null` stops reducing.",
    )
    at_step: Step | None = Field(
        None,
        description="The earliest step the edit may take effect at.",
        json_schema_extra=_not_null,
    )
    clock: Clock | None = Field(None, json_schema_extra=_not_null)

    @field_validator(
        "schedule", "version", "scale", "offset", "groups", "at_step", "clock", mode="before"
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null (leave the field out to keep it)")
        return value


class RunRead(_Answer):
    """A run: its binding, its timeline and how far it has been answered."""

    model_config = _answer(_RUN)

    id: str
    schedule: str
    version: int | Literal["latest"] = Field(description="The pinned version, or `latest`.")
    scale: float
    offset: int
    groups: dict[str, float]
    block: int
    total_steps: int | None
    steps_per_epoch: int | None
    plateau: Plateau | None = None
    horizon: int = Field(
        description="The last step committed (answered or leased); -1 before the first."
    )
    last_step_seen: int | None = Field(description="The highest step a trainer asked about.")
    archived: bool
    created: datetime
    updated: datetime
    timeline: list[TimelineSegment]


class RunEdit(RunRead):
    """A run after an edit."""

    model_config = _answer(
        {
            **_RUN,
            "scale": 1.0,
            "effective_step": 1280,
            "timeline": [_SEGMENT, {**_SEGMENT, "from_step": 1280, "scale": 1.0}],
        }
    )

    effective_step: int = Field(description="The first step the edit governs (a block start).")


class RunSummary(_Answer):
    model_config = _answer(
        {
            k: _RUN[k]
            for k in (
                "id",
                "schedule",
                "version",
                "horizon",
                "last_step_seen",
                "archived",
                "created",
                "updated",
            )
        }
    )
    id: str
    schedule: str
    version: int | Literal["latest"]
    horizon: int
    last_step_seen: int | None
    archived: bool
    created: datetime
    updated: datetime


class RunPage(_Answer):
    model_config = _answer(
        {
            "items": [
                {
                    k: _RUN[k]
                    for k in (
                        "id",
                        "schedule",
                        "version",
                        "horizon",
                        "last_step_seen",
                        "archived",
                        "created",
                        "updated",
                    )
                }
            ],
            "next_cursor": None,
        }
    )
    items: list[RunSummary]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class LrAnswer(_Answer):
    """The hot path's answer: every value for one step of a run."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "run": "resnet50-seed1",
                    "step": 1200,
                    "lr": 0.7978,
                    "values": {"lr": 0.7978, "weight_decay": 5e-05},
                    "groups": {"backbone": 0.07978},
                    "schedule": "resnet50",
                    "version": 1,
                }
            ]
        },
    )

    run: str
    step: int
    lr: float
    values: dict[str, float] = Field(description="Every named curve, `lr` included (scaled).")
    groups: dict[str, float] = Field(description="Each group's lr.")
    schedule: str
    version: int


class RangeAnswer(_Answer):
    """A run's values over ``range(start, stop, every)``: a preview that commits nothing."""

    model_config = _answer(
        {
            "run": "resnet50-seed1",
            "steps": [0, 1000, 2000],
            "values": {"lr": [0.0, 0.4, 0.8]},
            "groups": {"backbone": [0.0, 0.04, 0.08]},
            "committed_until": 1279,
            "timeline": [_SEGMENT],
        }
    )

    run: str
    steps: list[int]
    values: dict[str, list[float | None]] = Field(
        description="Every named curve at each step, `lr` included (scaled); null where the "
        "version governing that step has no such curve."
    )
    groups: dict[str, list[float | None]] = Field(
        description="Each group's lr at each step; null where the group is not defined."
    )
    committed_until: int = Field(
        description="The run's horizon: values at later steps are provisional (an edit may "
        "still change them)."
    )
    timeline: list[TimelineSegment] = Field(description="The segments the range touches.")


class Lease(_Answer):
    """Whole blocks of a run, committed: the client serves their steps locally."""

    model_config = _answer(
        {
            "run": "resnet50-seed1",
            "block": 2,
            "from_step": 1280,
            "to_step": 1282,
            "values": {"lr": [0.798, 0.7981]},
            "groups": {"backbone": [0.0798, 0.07981]},
            "timeline": [_SEGMENT],
            "committed_until": 1281,
        }
    )

    run: str
    block: int
    from_step: int = Field(description="The first step of the lease (a block start).")
    to_step: int = Field(description="The first step after the lease (exclusive).")
    values: dict[str, list[float | None]] = Field(
        description="Every named curve for each step of the lease, `lr` included (scaled); "
        "null where the version governing that step has no such curve."
    )
    groups: dict[str, list[float | None]] = Field(
        description="Each group's lr for each step; null where the group is not defined."
    )
    timeline: list[TimelineSegment] = Field(
        description="The segments from the lease's first step on: those it covers (the "
        "schedule version of each step) and every edit scheduled after it."
    )
    committed_until: int = Field(description="The run's horizon after this lease.")


# -- metrics and the audit trail --------------------------------------------------------------


class MetricReport(_Body):
    """A metric a trainer reports for a step; idempotent per (run, step, name)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"step": 1200, "name": "val_loss", "value": 0.731}]},
    )

    step: Step
    name: MetricName | None = Field(
        None,
        description="The metric's name; omitted, the run's `plateau.metric` (`loss` for a run "
        "without a plateau), as the server has it when the report arrives.",
    )
    value: _Number


class MetricRead(_Answer):
    """One stored metric report."""

    model_config = _answer(
        {"step": 1200, "name": "val_loss", "value": 0.731, "applied": True, "created": _WHEN}
    )

    step: int
    name: str
    value: float
    applied: bool = Field(
        description="Whether the reduce-on-plateau rule took it into account: false for a "
        "metric the run's plateau does not watch, and for a report older than one already "
        "applied (stored, never applied out of order)."
    )
    created: datetime


class PlateauOutcome(_Answer):
    """What the reduce-on-plateau rule made of a report."""

    best: float | None = Field(description="The best value so far.")
    num_bad_epochs: int = Field(description="Bad reports in a row since the best.")
    cooldown_counter: int = Field(description="Reports left before bad ones count again.")
    reduced: bool = Field(description="Whether this report triggered a reduction.")
    effective_step: int | None = Field(
        None, description="The first step the reduction governs (a block start)."
    )
    reduction: float | None = Field(
        None, description="The run's lr multiplier from `effective_step` on."
    )


class MetricResult(MetricRead):
    """The answer to a metric report."""

    model_config = _answer(
        {
            "step": 1200,
            "name": "val_loss",
            "value": 0.731,
            "applied": True,
            "created": _WHEN,
            "plateau": {
                "best": 0.702,
                "num_bad_epochs": 0,
                "cooldown_counter": 0,
                "reduced": True,
                "effective_step": 1280,
                "reduction": 0.1,
            },
        }
    )

    plateau: PlateauOutcome | None = Field(
        None, description="The rule's state after this report (when it applied it)."
    )


class MetricPage(_Answer):
    model_config = _answer(
        {
            "items": [
                {
                    "step": 1200,
                    "name": "val_loss",
                    "value": 0.731,
                    "applied": True,
                    "created": _WHEN,
                }
            ],
            "next_cursor": None,
        }
    )
    items: list[MetricRead]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class AuditEntry(_Answer):
    """One write: who made it, what it did, when."""

    model_config = _answer(
        {
            "id": 17,
            "at": _WHEN,
            "actor": "ci",
            "action": "run.patch",
            "target": "run/resnet50-seed1",
            "detail": {"changes": {"scale": 0.5}, "effective_step": 1280},
        }
    )

    id: int
    at: datetime
    actor: str | None = Field(description="The token's name (null: the server itself).")
    action: str
    target: str
    detail: dict[str, Any]


class AuditPage(_Answer):
    model_config = _answer(
        {
            "items": [
                {
                    "id": 17,
                    "at": _WHEN,
                    "actor": "ci",
                    "action": "run.patch",
                    "target": "run/resnet50-seed1",
                    "detail": {"changes": {"scale": 0.5}, "effective_step": 1280},
                }
            ],
            "next_cursor": None,
        }
    )
    items: list[AuditEntry]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")
