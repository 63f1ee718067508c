"""Schedules: publish versions, read them, evaluate them, archive them.

Publishing a version switches every live run that follows ``latest``, each at its own first
block boundary past its horizon, in the same transaction as the new version.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.engine import Connection

import lrcast
from lrcast._schemas import (
    EvaluateAnswer,
    EvaluateRequest,
    PublishResult,
    RunSwitch,
    ScheduleLrAnswer,
    SchedulePage,
    ScheduleRangeAnswer,
    ScheduleSummary,
    ScheduleVersionRead,
    TimelineSegment,
    VersionPage,
    VersionSummary,
)
from lrcast_server import audit, observability, storage
from lrcast_server.auth import Principal
from lrcast_server.conditions import check_if_match, new_run_etag, schedule_etag
from lrcast_server.core import Core, to_record, to_segment
from lrcast_server.db import LostRaceError
from lrcast_server.errors import ConflictError, InvalidRequestError, NotFoundError
from lrcast_server.timeline import (
    Timeline,
    continued,
    document_values,
    effective_step,
    steps_in,
    stored_binding,
)


def _canonical(document: lrcast.ScheduleDocument) -> dict[str, Any]:
    return document.model_dump(mode="json")


def _version_read(record: storage.VersionRecord) -> ScheduleVersionRead:
    return ScheduleVersionRead(
        name=record.name,
        version=record.version,
        document=lrcast.parse_document(record.document),
        created=record.created,
        created_by=record.created_by,
    )


def _live(
    conn: Connection, name: str, *, lock: Literal["update"] | None = None
) -> storage.ScheduleRecord:
    schedule = storage.get_schedule(conn, name, lock=lock)
    if schedule is None or schedule.archived:
        raise NotFoundError(f"no schedule {name!r}")
    return schedule


def _switch_followers(
    conn: Connection, name: str, version: int, document: dict[str, Any]
) -> list[RunSwitch]:
    """Move every live run following ``latest`` of ``name`` to the new version: from its first
    block boundary past its horizon, each segment that follows ``latest`` of ``name`` answers
    with ``version``; segments of another schedule or pinned to a version stay as they are.

    Refuses a version that some such run cannot evaluate (a ``"%"`` duration and a run without
    ``total_steps``, say): its answers would fail from then on.
    """
    switches = []
    now = storage.utcnow()
    problems: dict[tuple[int | None, int | None], lrcast.EvaluationError | None] = {}
    for run in storage.runs_following(conn, name):
        segments = [to_segment(s) for s in storage.get_segments(conn, run.id)]
        timeline = Timeline(run.id, run.timeline_rev, run.block, tuple(segments))
        at = effective_step(run.horizon, None, run.block)
        if at > lrcast.MAX_STEP:
            continue  # committed up to the largest step: no step is left to switch
        ahead = [continued(timeline.governing(at), at), *(s for s in segments if s.from_step > at)]
        moves = [_follows(s, name, run) for s in ahead]
        if not any(moves):
            continue
        first = moves.index(True)
        switched = [
            s.model_copy(update={"version": version}) if move else s
            for s, move in zip(ahead[first:], moves[first:], strict=True)
        ]
        for segment, move in zip(switched, moves[first:], strict=True):
            if move:
                _check_evaluable(run.id, document, segment, problems)
        if not storage.update_run(
            conn,
            run.id,
            horizon=run.horizon,
            timeline_rev=run.timeline_rev,
            values={"etag": new_run_etag(), "updated": now},
        ):
            raise LostRaceError
        start = switched[0].from_step
        storage.write_segments_from(conn, run.id, start, [to_record(s) for s in switched])
        switches.append(RunSwitch(run=run.id, effective_step=start))
    return switches


def _follows(segment: TimelineSegment, name: str, run: storage.RunRecord) -> bool:
    """Whether ``segment`` answers with the latest version of ``name`` (a segment stored
    before segments kept their binding follows as its run's own columns say)."""
    follow, _ = stored_binding(segment)
    if follow is None:
        follow = run.follow if run.schedule == name else None
    return segment.schedule == name and follow == "latest"


def _check_evaluable(
    run: str,
    document: dict[str, Any],
    segment: TimelineSegment,
    problems: dict[tuple[int | None, int | None], lrcast.EvaluationError | None],
) -> None:
    """Raise if ``document`` cannot be evaluated in ``segment``'s context (each context is
    compiled once per publish, and not cached: the version is not committed yet)."""
    context = (segment.total_steps, segment.steps_per_epoch)
    if context not in problems:
        try:
            lrcast.compile_document(document, total_steps=context[0], steps_per_epoch=context[1])
            problems[context] = None
        except lrcast.EvaluationError as exc:
            problems[context] = exc
    problem = problems[context]
    if problem is not None:
        (detail,) = problem.errors
        raise lrcast.EvaluationError(
            f"run {run!r} follows this schedule and could not evaluate this version:"
            f" {detail.message}",
            path=detail.path,
        )


def publish(
    core: Core,
    name: str,
    document: lrcast.ScheduleDocument,
    *,
    principal: Principal,
    if_match: str | None,
    if_none_match: bool = False,
) -> tuple[PublishResult, str, bool]:
    """Publish ``document`` as the next version of ``name`` (creating the schedule;
    ``if_none_match``: only creating it).

    Returns the result, its ETag and whether a version was created: the same document as the
    latest version publishes nothing.
    """
    stored = document.model_dump(mode="json", exclude_unset=True)  # within the size limit

    def work(conn: Connection) -> tuple[PublishResult, bool]:
        now = storage.utcnow()
        schedule = storage.get_schedule(conn, name, lock="update")
        live = schedule is not None and not schedule.archived
        check_if_match(
            if_match,
            schedule_etag(schedule.latest_version) if schedule and live else None,
            if_none_match=if_none_match,
        )
        if schedule is not None and live:
            latest = storage.get_version(conn, name, schedule.latest_version)
            if latest is not None and _canonical(
                lrcast.parse_document(latest.document)
            ) == _canonical(document):
                read = _version_read(latest)
                return PublishResult(**dict(read), published=False, runs=[]), False
        if schedule is None:
            storage.insert_schedule(conn, name, now)
        version = (schedule.latest_version if schedule else 0) + 1
        storage.insert_version(conn, name, version, stored, now, principal.name)
        storage.set_latest_version(conn, name, version, now)
        runs = _switch_followers(conn, name, version, stored)
        audit.record(
            conn,
            principal,
            "schedule.publish",
            f"schedule/{name}",
            version=version,
            runs=[r.model_dump() for r in runs],
        )
        read = ScheduleVersionRead(
            name=name, version=version, document=document, created=now, created_by=principal.name
        )
        return PublishResult(**dict(read), published=True, runs=runs), True

    result, created = core.database.transact(work)
    for switch in result.runs:
        observability.EDITS.labels("publish").inc()
        core.forget(switch.run)
    return result, schedule_etag(result.version), created


def latest(core: Core, name: str) -> tuple[ScheduleVersionRead, str]:
    with core.database.read() as conn:
        schedule = _live(conn, name)
        record = storage.get_version(conn, name, schedule.latest_version)
    if record is None:  # pragma: no cover - a schedule always has its latest version
        raise NotFoundError(f"no schedule {name!r}")
    return _version_read(record), schedule_etag(record.version)


def version(core: Core, name: str, number: int) -> tuple[ScheduleVersionRead, str]:
    with core.database.read() as conn:
        _live(conn, name)
        record = storage.get_version(conn, name, number)
    if record is None:
        raise NotFoundError(f"schedule {name!r} has no version {number}")
    return _version_read(record), schedule_etag(record.version)


def _description(document: dict[str, Any]) -> str | None:
    description = document.get("description")
    return description if isinstance(description, str) else None


def list_page(core: Core, *, cursor: str | None, limit: int) -> SchedulePage:
    with core.database.read() as conn:
        rows = storage.list_schedules(conn, after=cursor, limit=limit + 1)
        page = rows[:limit]
        documents = {
            v.name: v.document
            for v in storage.get_versions(conn, [(s.name, s.latest_version) for s in page])
        }
    return SchedulePage(
        items=[
            ScheduleSummary(
                name=s.name,
                latest_version=s.latest_version,
                description=_description(documents.get(s.name, {})),
                created=s.created,
                updated=s.updated,
            )
            for s in page
        ],
        next_cursor=page[-1].name if len(rows) > limit else None,
    )


def versions_page(core: Core, name: str, *, cursor: int | None, limit: int) -> VersionPage:
    with core.database.read() as conn:
        _live(conn, name)
        rows = storage.list_versions(conn, name, after=cursor, limit=limit + 1)
    page = rows[:limit]
    return VersionPage(
        items=[
            VersionSummary(
                name=v.name,
                version=v.version,
                description=_description(v.document),
                created=v.created,
                created_by=v.created_by,
            )
            for v in page
        ],
        next_cursor=str(page[-1].version) if len(rows) > limit else None,
    )


def archive(
    core: Core, name: str, *, if_match: str | None, principal: Principal | None = None
) -> None:
    """Archive a schedule; refused while a live run uses it. Its versions stay readable by the
    archived runs that used them; publishing the name again continues its version numbers."""

    def work(conn: Connection) -> None:
        # Locked first: a bind or patch naming the schedule waits, then finds it archived.
        schedule = _live(conn, name, lock="update")
        check_if_match(if_match, schedule_etag(schedule.latest_version))
        users = storage.live_runs_using(conn, name, limit=6)
        if users:
            listed = ", ".join(users[:5]) + (", …" if len(users) > 5 else "")
            raise ConflictError(
                f"schedule {name!r} is used by live runs ({listed}); archive them first"
            )
        storage.archive_schedule(conn, name, storage.utcnow())
        audit.record(conn, principal, "schedule.archive", f"schedule/{name}")

    core.database.transact(work)


def _compiled(
    core: Core,
    name: str,
    number: int | None,
    total_steps: int | None,
    steps_per_epoch: int | None,
) -> tuple[int, lrcast.CompiledDocument]:
    with core.database.read() as conn:
        schedule = _live(conn, name)
    number = number or schedule.latest_version
    if number > schedule.latest_version:
        raise NotFoundError(f"schedule {name!r} has no version {number}")
    return number, core.compile((name, number, total_steps, steps_per_epoch))


def check_range(core: Core, start: int, stop: int, every: int) -> None:
    """Refuse ranges longer than ``max_points`` (an empty range is fine, as in Python)."""
    count = max(-(-(stop - start) // every), 0)
    if count > core.settings.max_points:
        raise InvalidRequestError(
            f"the range has {count} steps; at most {core.settings.max_points}",
            errors=[_detail("stop", f"at most {core.settings.max_points} steps per range")],
        )


def _detail(path: str, message: str) -> lrcast.ErrorDetail:
    return lrcast.ErrorDetail(path, message)


def value_at(
    core: Core,
    name: str,
    *,
    number: int | None,
    step: int,
    total_steps: int | None,
    steps_per_epoch: int | None,
) -> ScheduleLrAnswer:
    number, compiled = _compiled(core, name, number, total_steps, steps_per_epoch)
    values = {k: v[0] for k, v in document_values(compiled, steps_in(step, step + 1, 1)).items()}
    return ScheduleLrAnswer(
        schedule=name, version=number, step=step, lr=values["lr"], values=values
    )


def values_over(
    core: Core,
    name: str,
    *,
    number: int | None,
    start: int,
    stop: int,
    every: int,
    total_steps: int | None,
    steps_per_epoch: int | None,
) -> ScheduleRangeAnswer:
    check_range(core, start, stop, every)
    number, compiled = _compiled(core, name, number, total_steps, steps_per_epoch)
    steps = steps_in(start, stop, every)
    return ScheduleRangeAnswer(
        schedule=name,
        version=number,
        steps=steps.tolist(),
        values=document_values(compiled, steps),
    )


def evaluate(core: Core, request: EvaluateRequest) -> EvaluateAnswer:
    """Evaluate an inline document (a preview; nothing is stored)."""
    check_range(core, request.start, request.stop, request.every)
    steps = steps_in(request.start, request.stop, request.every)
    try:
        compiled = lrcast.compile_document(
            request.document,
            total_steps=request.total_steps,
            steps_per_epoch=request.steps_per_epoch,
        )
        values = document_values(compiled, steps)
    except lrcast.EvaluationError as exc:
        # Paths inside the request body start at its "document" field.
        message = exc.errors[0].message if exc.errors else str(exc)
        path = f"document.{exc.path}" if exc.path else "document"
        raise lrcast.EvaluationError(message, path=path, step=exc.step) from None
    return EvaluateAnswer(steps=steps.tolist(), values=values)
