"""Runs: bind, read, edit, archive, and answer steps (the hot path), leases and ranges.

Every edit takes effect at ``max(horizon + 1, at_step)`` rounded up to a block boundary and is
written with a conditional update on ``(horizon, timeline_rev)``, so it can never change a step
already answered, whichever process answered it.
"""

from __future__ import annotations

from typing import Any, NoReturn

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

import lrcast
from lrcast._schemas import (
    Lease,
    Plateau,
    RangeAnswer,
    RunCreate,
    RunEdit,
    RunPage,
    RunPatch,
    RunRead,
    RunSummary,
    TimelineSegment,
)
from lrcast_server import audit, observability, storage
from lrcast_server.auth import Principal
from lrcast_server.conditions import check_if_match, new_run_etag, run_etag
from lrcast_server.core import Core, segments_of, to_record, to_segment
from lrcast_server.db import LostRaceError
from lrcast_server.errors import ConflictError, InvalidRequestError, NotFoundError
from lrcast_server.schedules import check_range
from lrcast_server.timeline import (
    StoredSegment,
    Timeline,
    block_end,
    continued,
    document_key,
    edited,
    effective_step,
    gather,
    reduction_points,
    same_segment,
    steps_in,
    stored_binding,
)


def _follow(version: int | str) -> str:
    return str(version)


def _followed(follow: str) -> int | str:
    return "latest" if follow == "latest" else int(follow)


def _read(core: Core, run: storage.RunRecord, segments: list[TimelineSegment]) -> RunRead:
    return RunRead(
        id=run.id,
        schedule=run.schedule,
        version=_followed(run.follow),
        scale=run.scale,
        offset=run.offset,
        groups=run.groups,
        block=run.block,
        total_steps=run.total_steps,
        steps_per_epoch=run.steps_per_epoch,
        plateau=Plateau.model_validate(run.plateau) if run.plateau is not None else None,
        horizon=run.horizon,
        last_step_seen=core.known_seen(run.id, run.last_step_seen),
        archived=run.archived,
        created=run.created,
        updated=run.updated,
        timeline=segments,
    )


def _version_to_use(
    conn: Connection, schedule_name: str, follow: str, field: str
) -> tuple[int, dict[str, Any]]:
    """The version a run bound to ``schedule_name`` uses now, and its document."""
    schedule = storage.get_schedule(conn, schedule_name, lock="share")
    if schedule is None or schedule.archived:
        raise InvalidRequestError(
            f"no schedule {schedule_name!r}",
            errors=[lrcast.ErrorDetail("schedule", f"no schedule {schedule_name!r}")],
        )
    number = schedule.latest_version if follow == "latest" else int(follow)
    record = storage.get_version(conn, schedule_name, number)
    if record is None:
        raise InvalidRequestError(
            f"schedule {schedule_name!r} has no version {number}",
            errors=[
                lrcast.ErrorDetail(field, f"schedule {schedule_name!r} has no version {number}")
            ],
        )
    return number, record.document


def _check_evaluable(core: Core, segment: TimelineSegment, document: dict[str, Any]) -> None:
    """Refuse a binding whose schedule cannot be evaluated with the run's context."""
    core.compile(document_key(segment), document)


def bind(
    core: Core,
    run_id: str,
    body: RunCreate,
    *,
    if_match: str | None,
    principal: Principal | None = None,
    if_none_match: bool = False,
) -> tuple[RunRead, str, bool]:
    """Bind ``run_id``; the same body again is a no-op, another body a conflict
    (``if_none_match``: any existing run is a 412).

    Returns the run, its ETag and whether it was created.
    """
    binding = body.model_dump(mode="json")
    if binding["plateau"] is None:
        # Bindings stored before runs had a plateau compare equal to the same body now.
        del binding["plateau"]

    def work(conn: Connection) -> bool:
        existing = storage.get_run(conn, run_id)
        check_if_match(
            if_match, run_etag(existing.etag) if existing else None, if_none_match=if_none_match
        )
        if existing is not None:
            if existing.archived:
                raise ConflictError(f"run {run_id!r} is archived; bind a new run id")
            if existing.binding != binding:
                raise ConflictError(
                    f"run {run_id!r} is bound with another body; PATCH it to change it"
                )
            return False
        follow = _follow(body.version)
        number, document = _version_to_use(conn, body.schedule, follow, "version")
        segment = StoredSegment(
            from_step=0,
            schedule=body.schedule,
            version=number,
            scale=body.scale,
            offset=body.offset,
            groups=body.groups,
            total_steps=body.total_steps,
            steps_per_epoch=body.steps_per_epoch,
            follow=follow,
            binding_offset=body.offset,
        )
        _check_evaluable(core, segment, document)
        now = storage.utcnow()
        run = storage.RunRecord(
            id=run_id,
            schedule=body.schedule,
            follow=follow,
            scale=body.scale,
            offset=body.offset,
            groups=body.groups,
            block=body.block,
            total_steps=body.total_steps,
            steps_per_epoch=body.steps_per_epoch,
            horizon=-1,
            timeline_rev=0,
            last_step_seen=None,
            archived=False,
            etag=new_run_etag(),
            binding=binding,
            created=now,
            updated=now,
            plateau=binding.get("plateau"),
        )
        storage.insert_run(conn, run)
        storage.write_segments_from(conn, run_id, 0, [to_record(segment)])
        audit.record(conn, principal, "run.bind", f"run/{run_id}", binding=binding)
        return True

    try:
        created = core.database.transact(work)
    except IntegrityError:
        # Another process bound the same id at the same moment: answer as if it came first.
        created = core.database.transact(work)
    read, etag = get(core, run_id)
    return read, etag, created


def get(core: Core, run_id: str) -> tuple[RunRead, str]:
    with core.database.read() as conn:
        run = storage.get_run(conn, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id!r}")
        segments: list[TimelineSegment] = [
            to_segment(s) for s in storage.get_segments(conn, run_id)
        ]
    return _read(core, run, segments), run_etag(run.etag)


def _in_order(groups: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """``groups`` with the names the run had first, in the order they had: an optimizer's
    unnamed parameter groups are matched by that order, which a JSON object does not carry."""
    kept = {name: groups[name] for name in before if name in groups}
    return kept | {name: m for name, m in groups.items() if name not in kept}


def _audit_patch(
    conn: Connection, principal: Principal | None, run_id: str, body: RunPatch, at: int
) -> None:
    changes = body.model_dump(mode="json", exclude_unset=True)
    audit.record(conn, principal, "run.patch", f"run/{run_id}", changes=changes, effective_step=at)


_TIMELINE_FIELDS = frozenset(RunPatch.model_fields) - {"plateau", "at_step"}
"""The fields of a PATCH that edit the timeline (``plateau`` edits the rule, not the values)."""


def patch(
    core: Core,
    run_id: str,
    body: RunPatch,
    *,
    if_match: str | None,
    principal: Principal | None = None,
) -> tuple[RunEdit, str]:
    """Edit a run from its effective step on; edits scheduled later are superseded.

    New ``plateau`` settings restart the rule's state (as a new torch scheduler would); the
    reductions made so far stay in the timeline.
    """
    given = body.model_fields_set
    edits_timeline = bool(given & _TIMELINE_FIELDS)
    plateau: dict[str, object] = {}
    if "plateau" in given:
        settings = body.plateau.model_dump(mode="json") if body.plateau is not None else None
        plateau = {"plateau": settings, "plateau_state": None}

    def work(conn: Connection) -> tuple[int, bool]:
        run = storage.get_run(conn, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id!r}")
        check_if_match(if_match, run_etag(run.etag))
        if run.archived:
            raise ConflictError(f"run {run_id!r} is archived")
        segments = [to_segment(s) for s in storage.get_segments(conn, run_id)]
        timeline = Timeline(run.id, run.timeline_rev, run.block, tuple(segments))
        at = effective_step(run.horizon, body.at_step, run.block)
        if at > lrcast.MAX_STEP:
            _past_the_last_step(at, body.at_step, run.block)
        if not edits_timeline:  # only the plateau rule (or nothing): the timeline stays
            if not plateau:
                return at, False  # nothing to change: no new ETag, nothing audited
            values = {"etag": new_run_etag(), "updated": storage.utcnow(), **plateau}
            if not storage.update_run(
                conn, run_id, horizon=run.horizon, timeline_rev=run.timeline_rev, values=values
            ):
                raise LostRaceError
            _audit_patch(conn, principal, run_id, body, at)
            return at, True
        base = timeline.governing(at)
        # The binding in force at ``at`` (the run's columns hold the last edit's, which may be
        # one scheduled later that this edit supersedes).
        base_follow, base_offset = stored_binding(base)
        schedule = body.schedule if body.schedule is not None else base.schedule
        if body.version is not None:
            follow = _follow(body.version)
        elif schedule != base.schedule:
            follow = "latest"
        else:
            follow = base_follow if base_follow is not None else run.follow
        number, document = _version_to_use(conn, schedule, follow, "version")
        binding_offset = base_offset if base_offset is not None else run.offset
        offset = body.offset
        if offset is None and body.clock is not None:
            offset = binding_offset
        if offset is not None:
            binding_offset = offset
        edit = edited(
            base,
            at,
            schedule=schedule,
            version=number,
            scale=body.scale if body.scale is not None else base.scale,
            groups=_in_order(body.groups, base.groups) if body.groups is not None else base.groups,
            total_steps=body.total_steps if "total_steps" in given else base.total_steps,
            steps_per_epoch=(
                body.steps_per_epoch if "steps_per_epoch" in given else base.steps_per_epoch
            ),
            clock=body.clock,
            offset=offset,
        )
        segment = StoredSegment(**edit.model_dump(), follow=follow, binding_offset=binding_offset)
        _check_evaluable(core, segment, document)
        binding = {
            "schedule": schedule,
            "follow": follow,
            "scale": segment.scale,
            "offset": binding_offset,
            "groups": segment.groups,
            "total_steps": segment.total_steps,
            "steps_per_epoch": segment.steps_per_epoch,
        }
        # Edits scheduled later are superseded; plateau reductions already made stay, on the edit.
        first = base if same_segment(base, segment) else segment
        reductions = [
            continued(first, s.from_step).model_copy(
                update={"reduction": s.reduction, "min_lr": s.min_lr}
            )
            for s in reduction_points(timeline, at)
        ]
        later = [s for s in timeline.segments if s.from_step > at]
        current = {name: getattr(run, name) for name in binding}
        if first is base and later == reductions and not plateau and current == binding:
            return at, False  # the PATCH asks for what is in force: no new ETag, no audit
        changed = storage.update_run(
            conn,
            run_id,
            horizon=run.horizon,
            timeline_rev=run.timeline_rev,
            values={**binding, "etag": new_run_etag(), "updated": storage.utcnow(), **plateau},
        )
        if not changed:
            raise LostRaceError
        if first is base:  # nothing changes at ``at``: keep ``base`` (it may start there)
            storage.write_segments_from(conn, run_id, at + 1, [to_record(s) for s in reductions])
        else:
            written = [segment, *reductions]
            storage.write_segments_from(conn, run_id, at, [to_record(s) for s in written])
        _audit_patch(conn, principal, run_id, body, at)
        return at, True

    at, changed = core.database.transact(work)
    if changed:
        observability.EDITS.labels("patch").inc()
        core.forget(run_id)
    read, etag = get(core, run_id)
    return RunEdit(**dict(read), effective_step=at), etag


def archive(
    core: Core, run_id: str, *, if_match: str | None, principal: Principal | None = None
) -> None:
    """Archive a run: it stops following new versions and no longer holds its schedule.
    Its answers stay available and unchanged."""

    def work(conn: Connection) -> None:
        run = storage.get_run(conn, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id!r}")
        check_if_match(if_match, run_etag(run.etag))
        if run.archived:
            return
        if not storage.update_run(
            conn,
            run_id,
            horizon=run.horizon,
            timeline_rev=run.timeline_rev,
            values={"archived": True, "etag": new_run_etag(), "updated": storage.utcnow()},
        ):
            raise LostRaceError
        audit.record(conn, principal, "run.archive", f"run/{run_id}")

    core.database.transact(work)
    core.forget(run_id)


def list_page(
    core: Core,
    *,
    cursor: str | None,
    limit: int,
    schedule: str | None,
    archived: bool,
) -> RunPage:
    with core.database.read() as conn:
        rows = storage.list_runs(
            conn, after=cursor, limit=limit + 1, schedule=schedule, include_archived=archived
        )
    page = rows[:limit]
    return RunPage(
        items=[
            RunSummary(
                id=r.id,
                schedule=r.schedule,
                version=_followed(r.follow),
                horizon=r.horizon,
                last_step_seen=core.known_seen(r.id, r.last_step_seen),
                archived=r.archived,
                created=r.created,
                updated=r.updated,
            )
            for r in page
        ],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


def _past_the_last_step(at: int, at_step: int | None, block: int) -> NoReturn:
    """Refuse an edit that would take effect past the largest step: 422 when ``at_step`` asked
    for it, 409 when the run has committed every step up to the largest."""
    if at_step is not None and -(-at_step // block) * block == at:
        last = lrcast.MAX_STEP // block * block
        raise InvalidRequestError(
            f"an edit takes effect at a block boundary: step {at} is past the largest step",
            errors=[lrcast.ErrorDetail("at_step", f"must be <= {last} (the last block's start)")],
        )
    raise ConflictError(
        "the run has committed every step up to the largest: nothing is left to edit"
    )


# -- answers ----------------------------------------------------------------------------------


def answer_from_memory(core: Core, run_id: str, step: int) -> bytes | None:
    """The answer for ``step`` if this process can give it without the database."""
    body = core.answers.answer(run_id, step)
    if body is None:
        state = core.cached(run_id)
        if state is None:
            return None
        k = step // state.timeline.block
        if block_end(k, state.timeline.block) > state.horizon:
            return None
        core.hold(state, k)
        body = core.answers.answer(run_id, step)
        assert body is not None
    return body


def answer(core: Core, run_id: str, step: int) -> bytes:
    """The answer for ``step``, committing its block first if needed (may block on the
    database: call from a worker thread)."""
    body = answer_from_memory(core, run_id, step)
    if body is None:
        k = step // core.block_size(run_id)
        state = core.commit(run_id, k, k, seen=step)
        core.hold(state, k)
        body = core.answers.answer(run_id, step)
        assert body is not None
    if core.seen_due():
        core.flush_seen()
    return body


def lease(core: Core, run_id: str, step: int, blocks: int) -> Lease:
    """Commit and return whole blocks from the one holding ``step``."""
    size = core.block_size(run_id)
    most = max(core.settings.max_points // size, 1)
    if blocks > most:
        raise InvalidRequestError(
            f"a lease of this run covers at most {most} blocks ({core.settings.max_points} steps)",
            errors=[lrcast.ErrorDetail("blocks", f"must be <= {most}")],
        )
    first = step // size
    # No block past the one holding the largest step: none of its steps could be asked.
    last = min(first + blocks - 1, lrcast.MAX_STEP // size)
    observability.LEASES.inc()
    state = core.commit(run_id, first, last, seen=step)
    ks = range(first, last + 1)
    pieces = [(state.timeline.governing(k * size), core.block(state, k)) for k in ks]
    values, groups = gather(pieces)
    return Lease(
        run=run_id,
        block=size,
        from_step=first * size,
        to_step=(last + 1) * size,
        values=values,
        groups=groups,
        # What the lease covers and every edit scheduled after it: all a client in an outage
        # needs to go on with the floats the server will answer.
        timeline=state.timeline.covering(first * size, lrcast.MAX_STEP + 1),
        committed_until=state.horizon,
    )


def values_over(core: Core, run_id: str, *, start: int, stop: int, every: int) -> RangeAnswer:
    """A preview of the run over ``range(start, stop, every)``: commits nothing."""
    check_range(core, start, stop, every)
    state = core.load(run_id)
    size = state.timeline.block
    steps = steps_in(start, stop, every).tolist()
    by_block: dict[int, list[int]] = {}
    for step in steps:
        by_block.setdefault(step // size, []).append(step)
    pieces = []
    for k, in_block in by_block.items():
        segment = state.timeline.governing(k * size)
        full = core.block(state, k, keep=k * size <= state.horizon)
        columns = [s - k * size for s in in_block]
        pieces.append((segment, {name: column[columns] for name, column in full.items()}))
    values, groups = gather(pieces)
    return RangeAnswer(
        run=run_id,
        steps=steps,
        values=values,
        groups=groups,
        committed_until=state.horizon,
        timeline=segments_of(by_block, state.timeline),
    )
