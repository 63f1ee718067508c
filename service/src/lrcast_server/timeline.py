"""The decisions behind the consistency guarantee, as pure functions (no database, no HTTP).

- Steps are grouped in aligned blocks: block k is ``[k*block, (k+1)*block)``.
- An edit takes effect at ``max(horizon + 1, at_step)`` rounded up to a block boundary.
- Each block lies inside one segment of the run's timeline and is computed from it whole.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import Field

import lrcast
from lrcast._schemas import TimelineSegment

BlockValues = dict[str, npt.NDArray[np.float64]]


class StoredSegment(TimelineSegment):
    """A segment as the server stores it: with the binding it came from, which edits default to
    and publishing honours, and which answers do not show."""

    follow: str | None = Field(None, exclude=True)
    """``"latest"``, or the pinned version as text; None in segments stored before they kept it
    (the run's own ``follow`` stands in)."""
    binding_offset: int | None = Field(None, exclude=True)
    """The ``offset`` of the binding or edit (a later segment continuing a restarted clock
    stores another offset); None as for ``follow``."""


def stored_binding(segment: TimelineSegment) -> tuple[str | None, int | None]:
    """``follow`` and ``binding_offset`` of a stored segment (None, None for any other)."""
    if isinstance(segment, StoredSegment):
        return segment.follow, segment.binding_offset
    return None, None


def effective_step(horizon: int, at_step: int | None, block: int) -> int:
    """The first step an edit may govern: past the horizon and ``at_step``, on a boundary."""
    earliest = max(horizon + 1, at_step or 0)
    return -(-earliest // block) * block


def block_end(k: int, block: int) -> int:
    """The last step of block ``k``."""
    return (k + 1) * block - 1


@dataclass(frozen=True, slots=True)
class Timeline:
    """A run's segments at one revision, sorted by ``from_step`` (the first starts at 0)."""

    run: str
    rev: int
    block: int
    segments: tuple[TimelineSegment, ...]
    _starts: list[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", [s.from_step for s in self.segments])

    def governing(self, step: int) -> TimelineSegment:
        """The segment that governs ``step``: the last starting at or before it."""
        return self.segments[self.index(step)]

    def index(self, step: int) -> int:
        """The position in ``segments`` of the one governing ``step``."""
        return max(bisect.bisect_right(self._starts, step) - 1, 0)

    def covering(self, start: int, stop: int) -> list[TimelineSegment]:
        """The segments governing some step of ``[start, stop)``."""
        first = max(bisect.bisect_right(self._starts, start) - 1, 0)
        last = bisect.bisect_left(self._starts, stop)
        return list(self.segments[first:last])

    def documents(self) -> set[tuple[str, int, int | None, int | None]]:
        """The compiled documents this timeline needs."""
        return {document_key(s) for s in self.segments}


def document_key(segment: TimelineSegment) -> tuple[str, int, int | None, int | None]:
    """What a compiled document depends on: the version and the duration context."""
    return (segment.schedule, segment.version, segment.total_steps, segment.steps_per_epoch)


def block_key(segment: TimelineSegment, block: int) -> tuple[object, ...]:
    """Everything a segment's blocks depend on but their number (groups are applied when
    answering). Floats by their bits: a scale of -0.0 gives other values than 0.0."""
    origin = segment.from_step if segment.clock == "restart" else None
    return (
        *document_key(segment),
        segment.scale.hex(),
        segment.reduction.hex(),
        segment.min_lr.hex(),
        segment.offset,
        origin,
        block,
    )


def compute_block(
    compiled: lrcast.CompiledDocument, segment: TimelineSegment, k: int, block: int
) -> BlockValues:
    """Block ``k`` under ``segment``: the one way the server computes values. A curve that
    is constant over the block (weight decay, betas, lr between the drops of a step
    schedule) is kept as one float seen through a read-only view."""
    values = lrcast.segment_block(compiled, segment, k, block)
    return {name: _compact(column) for name, column in values.items()}


def _compact(column: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    bits = column.view(np.int64)
    if column.size > 1 and bool((bits == bits[0]).all()):  # the same float, bit for bit
        return np.broadcast_to(column[:1].copy(), column.shape)
    return column


def block_bytes(values: BlockValues) -> int:
    """About the memory a block takes: its arrays (one float for a constant curve) and their
    bookkeeping."""
    return sum((c.nbytes if c.strides[0] else c.itemsize) + 200 for c in values.values()) + 300


def continued(base: TimelineSegment, at: int) -> TimelineSegment:
    """A copy of ``base`` starting at ``at`` whose curves keep counting steps as ``base``'s do
    (a restarted clock becomes the same count, written as an offset)."""
    if base.clock == "restart":
        return base.model_copy(
            update={"from_step": at, "clock": "global", "offset": base.offset - base.from_step}
        )
    return base.model_copy(update={"from_step": at})


def edited(
    base: TimelineSegment,
    at: int,
    *,
    schedule: str,
    version: int,
    scale: float,
    groups: dict[str, float],
    total_steps: int | None,
    steps_per_epoch: int | None,
    clock: str | None,
    offset: int | None,
) -> TimelineSegment:
    """The segment an edit starts at ``at``.

    With neither ``clock`` nor ``offset`` the curves keep counting as before; otherwise they see
    ``step + offset`` (``global``, the default) or ``step - at + offset`` (``restart``).
    """
    if clock is None and offset is None:
        start = continued(base, at)
    else:
        start = base.model_copy(
            update={"from_step": at, "clock": clock or "global", "offset": offset or 0}
        )
    return TimelineSegment(
        from_step=at,
        schedule=schedule,
        version=version,
        scale=scale,
        offset=start.offset,
        clock=start.clock,
        groups=groups,
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        # Plateau reductions made so far outlast edits of the binding.
        reduction=base.reduction,
        min_lr=base.min_lr,
    )


def reduction_points(timeline: Timeline, at: int) -> list[TimelineSegment]:
    """The segments past ``at`` where a plateau reduction starts: those whose ``reduction``
    differs from the one before (an edit never changes it, only a reduction does)."""
    before = timeline.governing(at).reduction
    points = []
    for segment in timeline.segments:
        if segment.from_step > at:
            if segment.reduction != before:
                points.append(segment)
            before = segment.reduction
    return points


def same_segment(a: TimelineSegment, b: TimelineSegment) -> bool:
    """Whether ``b`` (starting where ``a`` is continued) would answer exactly as ``a``."""
    return continued(a, b.from_step) == b


def gather(
    blocks: Sequence[tuple[TimelineSegment, BlockValues]],
) -> tuple[dict[str, list[float | None]], dict[str, list[float | None]]]:
    """Concatenate consecutive blocks into per-curve and per-group lists (None where a curve or
    group is not defined by the segment governing that block)."""
    curves: dict[str, None] = {}
    groups: dict[str, None] = {}
    for segment, values in blocks:
        curves.update(dict.fromkeys(values))
        groups.update(dict.fromkeys(segment.groups))
    out_values: dict[str, list[float | None]] = {name: [] for name in curves}
    out_groups: dict[str, list[float | None]] = {name: [] for name in groups}
    for segment, values in blocks:
        size = len(values["lr"])
        for name, column in out_values.items():
            array = values.get(name)
            column.extend(array.tolist() if array is not None else [None] * size)
        lr = values["lr"]
        for name, column in out_groups.items():
            multiplier = segment.groups.get(name)
            column.extend((lr * multiplier).tolist() if multiplier is not None else [None] * size)
    return out_values, out_groups


DOCUMENT_BLOCK = 256
"""The block a schedule is evaluated in without a run (the default block of a run)."""


def steps_in(start: int, stop: int, every: int) -> npt.NDArray[np.int64]:
    return np.arange(start, stop, every, dtype=np.int64)


def document_values(
    compiled: lrcast.CompiledDocument, steps: npt.NDArray[np.int64], block: int = DOCUMENT_BLOCK
) -> dict[str, list[float]]:
    """Every curve of ``compiled`` at ``steps``, each taken from its whole computed block, so a
    preview gives the same floats as a run with that block, scale 1 and offset 0."""
    if steps.size == 0:
        return {name: [] for name in compiled.curves}
    ks, where = np.unique(steps // block, return_inverse=True)
    columns = steps - ks[where] * block
    stacked: dict[str, list[npt.NDArray[np.float64]]] = {name: [] for name in compiled.curves}
    for k in ks.tolist():
        for name, values in compiled.block(k, block).items():
            stacked[name].append(values)
    return {name: np.stack(rows)[where, columns].tolist() for name, rows in stacked.items()}
