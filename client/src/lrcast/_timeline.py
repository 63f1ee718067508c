"""A run's timeline: which schedule version, scale, offset and clock govern which steps.

Every edit lands on a block boundary, so each block lies inside one segment and is computed from
it in one vector evaluation, on the server and in a client's local fallback alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lrcast._curves import Values
from lrcast._durations import MAX_STEP
from lrcast._errors import EvaluationError
from lrcast._evaluate import CompiledDocument, run_curve


class Segment(BaseModel):
    """One piece of a run's timeline, from ``from_step`` until the next segment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_step: Annotated[int, Field(ge=0, le=MAX_STEP, strict=True)]
    """The first step it governs: 0, or a multiple of the run's block."""
    schedule: str
    version: Annotated[int, Field(ge=1, strict=True)]
    scale: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    """Multiplies ``lr`` (and so every group's lr); other curves are not scaled."""
    offset: Annotated[int, Field(ge=-MAX_STEP, le=MAX_STEP, strict=True)] = 0
    """Added to the step the curves see (steps before 0 see step 0)."""
    clock: Literal["global", "restart"] = "global"
    """``global``: the curves see the run's step; ``restart``: the step minus ``from_step``."""
    reduction: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 1.0
    """The product of the reduce-on-plateau factors applied so far: multiplies ``lr``."""
    min_lr: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """The floor a reduction never takes ``lr`` below (nor lifts it above the unreduced lr)."""


def segment_for(timeline: Sequence[Segment], step: int) -> Segment:
    """The segment governing ``step``: the last one starting at or before it."""
    found = timeline[0]
    for segment in timeline:
        if segment.from_step <= step:
            found = segment
        else:
            break
    return found


def segment_block(
    compiled: CompiledDocument, segment: Segment, k: int, size: int
) -> dict[str, Values]:
    """Block ``k`` (steps ``[k*size, (k+1)*size)``) of a run under ``segment``.

    Returns every named curve's values; ``lr`` is multiplied by the segment's ``scale``, then,
    once a plateau reduction applies, by ``reduction`` and held at or above
    ``min(min_lr, unreduced lr)`` (torch's ``max(lr * factor, min_lr)``, which never raises lr).
    """
    steps = np.arange(k * size, (k + 1) * size, dtype=np.int64)
    local = steps - segment.from_step if segment.clock == "restart" else steps
    local = np.clip(local + segment.offset, 0, MAX_STEP)
    values: dict[str, Values] = {}
    for name, fn in compiled.curves.items():
        curve = run_curve(fn, local, f"curves.{name}")
        if name == "lr":
            with np.errstate(over="ignore"):  # an overflow is refused just below
                curve = curve * segment.scale
            if segment.reduction != 1.0:
                curve = np.maximum(curve * segment.reduction, np.minimum(segment.min_lr, curve))
            if curve.size and not curve.max() < np.inf:
                step = int(steps[np.argmax(~np.isfinite(curve))])
                raise EvaluationError(
                    f"lr times the scale {segment.scale!r} overflows at step {step}",
                    path="scale",
                    step=step,
                )
        values[name] = curve
    return values


def check_groups(lr: Values, groups: Mapping[str, float], first_step: int) -> None:
    """Refuse groups whose lr (``lr`` × multiplier, over a block starting at ``first_step``)
    would overflow: an answer is a finite float, never ``null``."""
    if not lr.size:
        return
    top = float(lr.max())
    for name, multiplier in groups.items():
        if not top * multiplier < np.inf:
            with np.errstate(over="ignore"):
                step = first_step + int(np.argmax(~np.isfinite(lr * multiplier)))
            raise EvaluationError(
                f"lr times the multiplier {multiplier!r} overflows at step {step}",
                path=f"groups.{name}",
                step=step,
            )
