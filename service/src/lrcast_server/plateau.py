"""Reduce-on-plateau: torch's ``ReduceLROnPlateau`` rule, and the metric reports that drive it.

The rule (pure; :func:`observe`) is torch's, decision for decision: a report is better than the
best so far when ``a < best * (1 - threshold)`` (``min``, ``rel``), ``a < best - threshold``
(``min``, ``abs``), ``a > best * (1 + threshold)`` (``max``, ``rel``) or ``a > best + threshold``
(``max``, ``abs``), the best starting at ±inf; a better report resets the bad count, another
adds one; while in cooldown the cooldown counter drops by one and the bad count is reset; when
the bad count exceeds ``patience`` (so after ``patience + 1`` bad reports) lr is reduced, the
cooldown starts and the bad count is reset.

A reduction multiplies the run's lr by ``factor`` from the first block boundary past both the
reported step and the horizon, as an edit of the timeline: the segment starting there carries
``reduction`` (the product of the factors so far) and ``min_lr``, so ``lr = max(lr * reduction,
min(min_lr, lr))`` (torch's ``max(lr * factor, min_lr)``, which never raises lr). As in torch, a
reduction that would change lr (at that step) by ``eps`` or less is skipped, the rule's state
still moving on. Reports of the watched metric are applied in step order: one for a step at or
before the last applied is stored but not applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

import lrcast
from lrcast._schemas import (
    MetricPage,
    MetricRead,
    MetricReport,
    MetricResult,
    Plateau,
    PlateauOutcome,
    TimelineSegment,
)
from lrcast._timeline import segment_block
from lrcast_server import audit, observability, storage
from lrcast_server.auth import Principal
from lrcast_server.conditions import check_if_match, run_etag
from lrcast_server.core import Core, to_record, to_segment
from lrcast_server.db import LostRaceError
from lrcast_server.errors import ConflictError, InvalidRequestError, NotFoundError
from lrcast_server.timeline import Timeline, continued, document_key, effective_step

DEFAULT_METRIC = "loss"
"""The name of a report that gives none, on a run without a plateau."""


@dataclass(frozen=True)
class State:
    """The rule's state between reports, as torch keeps it."""

    best: float | None = None
    """The best value so far; None before the first (torch's ±inf)."""
    num_bad_epochs: int = 0
    cooldown_counter: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> State:
        return cls(**data) if data else cls()

    def to_json(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }


def is_better(settings: Plateau, a: float, best: float | None) -> bool:
    """torch's ``is_better``, with its ±inf start."""
    if best is None:
        best = math.inf if settings.mode == "min" else -math.inf
    if settings.mode == "min" and settings.threshold_mode == "rel":
        return a < best * (1.0 - settings.threshold)
    if settings.mode == "min":
        return a < best - settings.threshold
    if settings.threshold_mode == "rel":
        return a > best * (settings.threshold + 1.0)
    return a > best + settings.threshold


def observe(settings: Plateau, state: State, value: float) -> tuple[State, bool]:
    """The state after one report of ``value``, and whether lr is to be reduced now."""
    best, bad, cooldown = state.best, state.num_bad_epochs, state.cooldown_counter
    if is_better(settings, value, best):
        best, bad = value, 0
    else:
        bad += 1
    if cooldown > 0:
        cooldown -= 1
        bad = 0
    reduce = bad > settings.patience
    if reduce:
        cooldown, bad = settings.cooldown, 0
    return State(best, bad, cooldown), reduce


def worth_reducing(settings: Plateau, old_lr: float, new_lr: float) -> bool:
    """torch's ``if old_lr - new_lr > eps``."""
    return old_lr - new_lr > settings.eps


# -- the service ------------------------------------------------------------------------------


def _lr_at(core: Core, segment: TimelineSegment, step: int, block: int) -> float:
    compiled = core.compile(document_key(segment))
    k, i = divmod(step, block)
    return float(segment_block(compiled, segment, k, block)["lr"][i])


def _read(record: storage.MetricRecord) -> MetricRead:
    return MetricRead(
        step=record.step,
        name=record.name,
        value=record.value,
        applied=record.applied,
        created=record.created,
    )


def report(
    core: Core,
    run_id: str,
    body: MetricReport,
    *,
    principal: Principal,
    if_match: str | None = None,
) -> tuple[MetricResult, bool]:
    """Store a metric (idempotent per run, step and name) and apply it to the run's plateau
    rule, if the run's ETag matches ``if_match`` (when given). Returns the result and whether
    it was new (False: the same report again)."""

    def work(conn: Connection) -> tuple[MetricResult, bool]:
        run = storage.get_run(conn, run_id)
        check_if_match(if_match, run_etag(run.etag) if run else None)
        if run is None:
            raise NotFoundError(f"no run {run_id!r}")
        settings = Plateau.model_validate(run.plateau) if run.plateau is not None else None
        name = body.name or (settings.metric if settings is not None else DEFAULT_METRIC)
        existing = storage.get_metric(conn, run_id, body.step, name)
        if existing is not None:
            if existing.value != body.value:
                raise ConflictError(
                    f"{name!r} at step {body.step} of run {run_id!r} was reported as "
                    f"{existing.value!r}; a report cannot be changed"
                )
            return MetricResult(**dict(_read(existing))), False
        if run.archived:
            raise ConflictError(f"run {run_id!r} is archived")
        applies = settings is not None and name == settings.metric and body.step > run.plateau_step
        now = storage.utcnow()
        metric = storage.MetricRecord(
            run_id, body.step, name, body.value, applies, now, principal.name
        )
        storage.insert_metric(conn, metric)
        outcome = None
        if applies:
            assert settings is not None
            outcome = _apply(conn, core, run, settings, body, principal)
        return MetricResult(**dict(_read(metric)), plateau=outcome), True

    try:
        result, created = core.database.transact(work)
    except IntegrityError:
        # The same key reported at the same moment through another process: answer as second.
        result, created = core.database.transact(work)
    observability.METRIC_REPORTS.inc()
    if result.plateau is not None and result.plateau.reduced:
        observability.PLATEAU_REDUCTIONS.inc()
        observability.EDITS.labels("plateau").inc()
        core.forget(run_id)
    return result, created


def _apply(
    conn: Connection,
    core: Core,
    run: storage.RunRecord,
    settings: Plateau,
    body: MetricReport,
    principal: Principal,
) -> PlateauOutcome:
    state, reduce = observe(settings, State.from_json(run.plateau_state), body.value)
    values: dict[str, Any] = {"plateau_state": state.to_json(), "plateau_step": body.step}
    edit: list[TimelineSegment] = []
    at = reduction = None
    if reduce and effective_step(run.horizon, body.step + 1, run.block) > lrcast.MAX_STEP:
        reduce = False  # no step is left for a reduction to govern
    if reduce:
        segments = [to_segment(s) for s in storage.get_segments(conn, run.id)]
        timeline = Timeline(run.id, run.timeline_rev, run.block, tuple(segments))
        at = effective_step(run.horizon, body.step + 1, run.block)
        base = timeline.governing(at)
        reduction = base.reduction * settings.factor
        reduced = continued(base, at).model_copy(
            update={"reduction": reduction, "min_lr": settings.min_lr}
        )
        if worth_reducing(
            settings, _lr_at(core, base, at, run.block), _lr_at(core, reduced, at, run.block)
        ):
            # Edits already scheduled further ahead stay, reduced too.
            later = [
                s.model_copy(
                    update={"reduction": s.reduction * settings.factor, "min_lr": settings.min_lr}
                )
                for s in segments
                if s.from_step > at
            ]
            edit = [reduced, *later]
            values["updated"] = storage.utcnow()
    if not storage.update_plateau(
        conn,
        run.id,
        plateau_step=run.plateau_step,
        horizon=run.horizon,
        timeline_rev=run.timeline_rev,
        values=values,
        edits_timeline=bool(edit),
    ):
        raise LostRaceError
    if edit:
        assert at is not None
        storage.write_segments_from(conn, run.id, at, [to_record(s) for s in edit])
        audit.record(
            conn,
            principal,
            "run.plateau_reduce",
            f"run/{run.id}",
            metric=settings.metric,
            step=body.step,
            value=body.value,
            factor=settings.factor,
            reduction=reduction,
            effective_step=at,
        )
    return PlateauOutcome(
        best=state.best,
        num_bad_epochs=state.num_bad_epochs,
        cooldown_counter=state.cooldown_counter,
        reduced=bool(edit),
        effective_step=at if edit else None,
        reduction=reduction if edit else None,
    )


def metrics_page(
    core: Core, run_id: str, *, cursor: str | None, limit: int, name: str | None
) -> MetricPage:
    """A run's metrics by step (then name), a page at a time."""
    after = None
    if cursor is not None:
        step, _, after_name = cursor.partition(":")
        # ASCII digits only: str.isdigit() takes "²", which int() refuses.
        if not (step.isascii() and step.isdigit() and after_name) or int(step) > lrcast.MAX_STEP:
            detail = "not a cursor this list gave"
            raise InvalidRequestError(detail, errors=[lrcast.ErrorDetail("cursor", detail)])
        after = (int(step), after_name)
    with core.database.read() as conn:
        if storage.get_run(conn, run_id) is None:
            raise NotFoundError(f"no run {run_id!r}")
        rows = storage.list_metrics(conn, run_id, after=after, limit=limit + 1, name=name)
    shown = rows[:limit]
    return MetricPage(
        items=[_read(r) for r in shown],
        next_cursor=f"{shown[-1].step}:{shown[-1].name}" if len(rows) > limit else None,
    )
