"""Every query the server makes, as small functions over a connection.

The services decide; this module only reads and writes rows, in the transaction it is given.
Portable SQL only (SQLAlchemy Core): the same functions serve SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrcast_server.tables import (
    audit,
    run_metrics,
    run_segments,
    runs,
    schedule_versions,
    schedules,
    tokens,
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRecord:
    name: str
    latest_version: int
    created: datetime
    updated: datetime
    archived: bool


@dataclass(frozen=True)
class VersionRecord:
    name: str
    version: int
    document: dict[str, Any]
    created: datetime
    created_by: str | None


@dataclass(frozen=True)
class SegmentRecord:
    from_step: int
    schedule: str
    version: int
    scale: float
    offset: int
    clock: str
    groups: dict[str, float]
    total_steps: int | None
    steps_per_epoch: int | None
    reduction: float = 1.0
    min_lr: float = 0.0
    follow: str | None = None
    binding_offset: int | None = None


@dataclass(frozen=True)
class RunRecord:
    id: str
    schedule: str
    follow: str
    scale: float
    offset: int
    groups: dict[str, float]
    block: int
    total_steps: int | None
    steps_per_epoch: int | None
    horizon: int
    timeline_rev: int
    last_step_seen: int | None
    archived: bool
    etag: str
    binding: dict[str, Any]
    created: datetime
    updated: datetime
    plateau: dict[str, Any] | None = None
    plateau_state: dict[str, Any] | None = None
    plateau_step: int = -1


@dataclass(frozen=True)
class MetricRecord:
    run: str
    step: int
    name: str
    value: float
    applied: bool
    created: datetime
    reported_by: str | None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class TokenRecord:
    name: str
    hash: str
    role: str
    created: datetime
    revoked: datetime | None


def _schedule(row: sa.Row[Any]) -> ScheduleRecord:
    return ScheduleRecord(
        name=row.name,
        latest_version=row.latest_version,
        created=_aware(row.created),
        updated=_aware(row.updated),
        archived=bool(row.archived),
    )


def _version(row: sa.Row[Any]) -> VersionRecord:
    return VersionRecord(
        name=row.name,
        version=row.version,
        document=row.document,
        created=_aware(row.created),
        created_by=row.created_by,
    )


def _segment(row: sa.Row[Any]) -> SegmentRecord:
    return SegmentRecord(
        from_step=row.from_step,
        schedule=row.schedule,
        version=row.version,
        scale=row.scale,
        offset=row.offset,
        clock=row.clock,
        groups=dict(row.groups),
        total_steps=row.total_steps,
        steps_per_epoch=row.steps_per_epoch,
        reduction=row.reduction,
        min_lr=row.min_lr,
        follow=row.follow,
        binding_offset=row.binding_offset,
    )


def _run(row: sa.Row[Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        schedule=row.schedule,
        follow=row.follow,
        scale=row.scale,
        offset=row.offset,
        groups=dict(row.groups),
        block=row.block,
        total_steps=row.total_steps,
        steps_per_epoch=row.steps_per_epoch,
        horizon=row.horizon,
        timeline_rev=row.timeline_rev,
        last_step_seen=row.last_step_seen,
        archived=bool(row.archived),
        etag=row.etag,
        binding=dict(row.binding),
        created=_aware(row.created),
        updated=_aware(row.updated),
        plateau=row.plateau,
        plateau_state=row.plateau_state,
        plateau_step=row.plateau_step,
    )


def _token(row: sa.Row[Any]) -> TokenRecord:
    return TokenRecord(
        name=row.name,
        hash=row.hash,
        role=row.role,
        created=_aware(row.created),
        revoked=_aware(row.revoked) if row.revoked is not None else None,
    )


# -- schedules --------------------------------------------------------------------------------


def get_schedule(
    conn: Connection, name: str, *, lock: Literal["share", "update"] | None = None
) -> ScheduleRecord | None:
    """The schedule's row; ``lock`` holds its row lock to the end of the transaction (on
    PostgreSQL: a publish or archive waits for a bind that read the latest version, and the
    other way round; SQLite's write transactions are serial already)."""
    query = sa.select(schedules).where(schedules.c.name == name)
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    row = conn.execute(query).first()
    return _schedule(row) if row is not None else None


def list_schedules(conn: Connection, *, after: str | None, limit: int) -> list[ScheduleRecord]:
    query = sa.select(schedules).where(schedules.c.archived == sa.false())
    if after is not None:
        query = query.where(schedules.c.name > after)
    rows = conn.execute(query.order_by(schedules.c.name).limit(limit))
    return [_schedule(row) for row in rows]


def insert_schedule(conn: Connection, name: str, now: datetime) -> None:
    conn.execute(
        sa.insert(schedules).values(
            name=name, latest_version=0, created=now, updated=now, archived=False
        )
    )


def set_latest_version(conn: Connection, name: str, version: int, now: datetime) -> None:
    conn.execute(
        sa.update(schedules)
        .where(schedules.c.name == name)
        .values(latest_version=version, updated=now, archived=False)
    )


def archive_schedule(conn: Connection, name: str, now: datetime) -> None:
    conn.execute(
        sa.update(schedules).where(schedules.c.name == name).values(archived=True, updated=now)
    )


def get_version(conn: Connection, name: str, version: int) -> VersionRecord | None:
    row = conn.execute(
        sa.select(schedule_versions).where(
            schedule_versions.c.name == name, schedule_versions.c.version == version
        )
    ).first()
    return _version(row) if row is not None else None


def get_versions(conn: Connection, keys: Sequence[tuple[str, int]]) -> list[VersionRecord]:
    if not keys:
        return []
    rows = conn.execute(
        sa.select(schedule_versions).where(
            sa.tuple_(schedule_versions.c.name, schedule_versions.c.version).in_(list(keys))
        )
    )
    return [_version(row) for row in rows]


def list_versions(
    conn: Connection, name: str, *, after: int | None, limit: int
) -> list[VersionRecord]:
    query = sa.select(schedule_versions).where(schedule_versions.c.name == name)
    if after is not None:
        query = query.where(schedule_versions.c.version > after)
    rows = conn.execute(query.order_by(schedule_versions.c.version).limit(limit))
    return [_version(row) for row in rows]


def insert_version(
    conn: Connection,
    name: str,
    version: int,
    document: dict[str, Any],
    now: datetime,
    created_by: str | None,
) -> None:
    conn.execute(
        sa.insert(schedule_versions).values(
            name=name, version=version, document=document, created=now, created_by=created_by
        )
    )


def live_runs_using(conn: Connection, name: str, *, limit: int) -> list[str]:
    """Ids of runs not archived whose binding or timeline names the schedule."""
    in_timeline = sa.select(run_segments.c.run).where(run_segments.c.schedule == name)
    rows = conn.execute(
        sa.select(runs.c.id)
        .where(
            runs.c.archived == sa.false(),
            sa.or_(runs.c.schedule == name, runs.c.id.in_(in_timeline)),
        )
        .order_by(runs.c.id)
        .limit(limit)
    )
    return [row.id for row in rows]


# -- runs -------------------------------------------------------------------------------------


def get_run(conn: Connection, run_id: str) -> RunRecord | None:
    row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
    return _run(row) if row is not None else None


def list_runs(
    conn: Connection,
    *,
    after: str | None,
    limit: int,
    schedule: str | None,
    include_archived: bool,
) -> list[RunRecord]:
    query = sa.select(runs)
    if not include_archived:
        query = query.where(runs.c.archived == sa.false())
    if schedule is not None:
        query = query.where(runs.c.schedule == schedule)
    if after is not None:
        query = query.where(runs.c.id > after)
    return [_run(row) for row in conn.execute(query.order_by(runs.c.id).limit(limit))]


def runs_following(conn: Connection, schedule: str) -> list[RunRecord]:
    """Live runs with a segment on ``schedule`` that follows its latest version (a segment
    stored before segments kept their binding follows as its run's own columns say)."""
    follows = sa.or_(
        run_segments.c.follow == "latest",
        sa.and_(
            run_segments.c.follow.is_(None),
            runs.c.schedule == schedule,
            runs.c.follow == "latest",
        ),
    )
    on_schedule = (
        sa.select(run_segments.c.run)
        .where(run_segments.c.run == runs.c.id, run_segments.c.schedule == schedule, follows)
        .exists()
    )
    rows = conn.execute(
        sa.select(runs).where(runs.c.archived == sa.false(), on_schedule).order_by(runs.c.id)
    )
    return [_run(row) for row in rows]


def insert_run(conn: Connection, run: RunRecord) -> None:
    conn.execute(
        sa.insert(runs).values(
            id=run.id,
            schedule=run.schedule,
            follow=run.follow,
            scale=run.scale,
            offset=run.offset,
            groups=run.groups,
            block=run.block,
            total_steps=run.total_steps,
            steps_per_epoch=run.steps_per_epoch,
            horizon=run.horizon,
            timeline_rev=run.timeline_rev,
            last_step_seen=run.last_step_seen,
            archived=run.archived,
            etag=run.etag,
            binding=run.binding,
            created=run.created,
            updated=run.updated,
            plateau=run.plateau,
            plateau_state=run.plateau_state,
            plateau_step=run.plateau_step,
        )
    )


def get_segments(conn: Connection, run_id: str) -> list[SegmentRecord]:
    rows = conn.execute(
        sa.select(run_segments)
        .where(run_segments.c.run == run_id)
        .order_by(run_segments.c.from_step)
    )
    return [_segment(row) for row in rows]


def _segment_values(run_id: str, segment: SegmentRecord) -> dict[str, Any]:
    return {
        "run": run_id,
        "from_step": segment.from_step,
        "schedule": segment.schedule,
        "version": segment.version,
        "scale": segment.scale,
        "offset": segment.offset,
        "clock": segment.clock,
        "groups": segment.groups,
        "total_steps": segment.total_steps,
        "steps_per_epoch": segment.steps_per_epoch,
        "reduction": segment.reduction,
        "min_lr": segment.min_lr,
        "follow": segment.follow,
        "binding_offset": segment.binding_offset,
    }


def write_segments_from(
    conn: Connection, run_id: str, from_step: int, segments: Sequence[SegmentRecord]
) -> None:
    """Replace the part of the timeline from ``from_step`` on by ``segments``."""
    conn.execute(
        sa.delete(run_segments).where(
            run_segments.c.run == run_id, run_segments.c.from_step >= from_step
        )
    )
    if segments:
        conn.execute(sa.insert(run_segments), [_segment_values(run_id, s) for s in segments])


def raise_horizon(
    conn: Connection, run_id: str, *, horizon: int, timeline_rev: int, seen: int | None
) -> bool:
    """Move the horizon up to ``horizon`` if the timeline is still the one read.

    False when another writer got there first (the horizon is already that high) or the
    timeline changed: the caller reads the run again.
    """
    values: dict[str, Any] = {"horizon": horizon}
    if seen is not None:
        values["last_step_seen"] = _at_least(seen)
    result = conn.execute(
        sa.update(runs)
        .where(
            runs.c.id == run_id,
            runs.c.horizon < horizon,
            runs.c.timeline_rev == timeline_rev,
        )
        .values(**values)
    )
    return result.rowcount == 1


def _at_least(seen: int) -> sa.ColumnElement[Any]:
    return sa.case(
        (runs.c.last_step_seen.is_(None), seen),
        (runs.c.last_step_seen < seen, seen),
        else_=runs.c.last_step_seen,
    )


_SEEN_STEP = sa.bindparam("seen_step", type_=sa.BigInteger)
_RECORD_SEEN = (
    sa.update(runs)
    .where(
        runs.c.id == sa.bindparam("seen_run"),
        sa.or_(runs.c.last_step_seen.is_(None), runs.c.last_step_seen < _SEEN_STEP),
    )
    .values(last_step_seen=_SEEN_STEP)
)
_record_seen_sql: dict[str, tuple[str, tuple[str, ...] | None]] = {}


def record_seen_many(conn: Connection, seen: Mapping[str, int]) -> None:
    """Raise each run's last step seen to the step given (never lower it), in one
    ``executemany`` handed straight to the driver: this runs every second for every run a
    process answered, and SQLAlchemy's per-row work would be most of its cost."""
    if not seen:
        return
    dialect = conn.dialect
    if dialect.name not in _record_seen_sql:
        compiled = _RECORD_SEEN.compile(dialect=dialect)
        order = compiled.positiontup if compiled.positional else None
        positions = tuple(order) if order is not None else None
        _record_seen_sql[dialect.name] = (str(compiled), positions)
    sql, positions = _record_seen_sql[dialect.name]
    # In id order: two processes flushing the same runs never deadlock (PostgreSQL).
    rows = [{"seen_run": run_id, "seen_step": step} for run_id, step in sorted(seen.items())]
    if positions is None:
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [tuple(row[name] for name in positions) for row in rows])


def update_run(
    conn: Connection,
    run_id: str,
    *,
    horizon: int,
    timeline_rev: int,
    values: dict[str, Any],
) -> bool:
    """Change a run and bump its timeline revision, if nobody moved its horizon or timeline
    since it was read (``horizon``, ``timeline_rev``). False: read again and redo."""
    result = conn.execute(
        sa.update(runs)
        .where(
            runs.c.id == run_id,
            runs.c.horizon == horizon,
            runs.c.timeline_rev == timeline_rev,
        )
        .values(timeline_rev=timeline_rev + 1, **values)
    )
    return result.rowcount == 1


def update_plateau(
    conn: Connection,
    run_id: str,
    *,
    plateau_step: int,
    horizon: int,
    timeline_rev: int,
    values: dict[str, Any],
    edits_timeline: bool,
) -> bool:
    """Store the reduce-on-plateau rule's new state if nobody applied a report, edited the
    timeline or (when ``edits_timeline``: the report reduces lr) moved the horizon since the run
    was read. A reduction bumps the timeline revision like any edit. False: read again."""
    conditions = [
        runs.c.id == run_id,
        runs.c.plateau_step == plateau_step,
        runs.c.timeline_rev == timeline_rev,
    ]
    if edits_timeline:
        conditions.append(runs.c.horizon == horizon)
        values = {**values, "timeline_rev": timeline_rev + 1}
    result = conn.execute(sa.update(runs).where(*conditions).values(**values))
    return result.rowcount == 1


# -- metrics ----------------------------------------------------------------------------------


def _metric(row: sa.Row[Any]) -> MetricRecord:
    return MetricRecord(
        run=row.run,
        step=row.step,
        name=row.name,
        value=row.value,
        applied=bool(row.applied),
        created=_aware(row.created),
        reported_by=row.reported_by,
    )


def get_metric(conn: Connection, run_id: str, step: int, name: str) -> MetricRecord | None:
    row = conn.execute(
        sa.select(run_metrics).where(
            run_metrics.c.run == run_id, run_metrics.c.step == step, run_metrics.c.name == name
        )
    ).first()
    return _metric(row) if row is not None else None


def insert_metric(conn: Connection, metric: MetricRecord) -> None:
    conn.execute(
        sa.insert(run_metrics).values(
            run=metric.run,
            step=metric.step,
            name=metric.name,
            value=metric.value,
            applied=metric.applied,
            created=metric.created,
            reported_by=metric.reported_by,
        )
    )


def list_metrics(
    conn: Connection,
    run_id: str,
    *,
    after: tuple[int, str] | None,
    limit: int,
    name: str | None,
) -> list[MetricRecord]:
    """A run's metrics by (step, name), from after ``after``."""
    query = sa.select(run_metrics).where(run_metrics.c.run == run_id)
    if name is not None:
        query = query.where(run_metrics.c.name == name)
    if after is not None:
        step, after_name = after
        query = query.where(
            sa.or_(
                run_metrics.c.step > step,
                sa.and_(run_metrics.c.step == step, run_metrics.c.name > after_name),
            )
        )
    rows = conn.execute(query.order_by(run_metrics.c.step, run_metrics.c.name).limit(limit))
    return [_metric(row) for row in rows]


# -- audit ------------------------------------------------------------------------------------


def insert_audit(
    conn: Connection,
    *,
    at: datetime,
    actor: str | None,
    action: str,
    target: str,
    detail: dict[str, Any],
) -> None:
    conn.execute(
        sa.insert(audit).values(at=at, actor=actor, action=action, target=target, detail=detail)
    )


def list_audit(
    conn: Connection,
    *,
    after: int | None,
    limit: int,
    target: str | None,
    action: str | None,
    actor: str | None,
) -> list[AuditRecord]:
    """Audit entries, oldest first, from after id ``after``."""
    query = sa.select(audit)
    if after is not None:
        query = query.where(audit.c.id > after)
    if target is not None:
        query = query.where(audit.c.target == target)
    if action is not None:
        query = query.where(audit.c.action == action)
    if actor is not None:
        query = query.where(audit.c.actor == actor)
    rows = conn.execute(query.order_by(audit.c.id).limit(limit))
    return [
        AuditRecord(
            id=row.id,
            at=_aware(row.at),
            actor=row.actor,
            action=row.action,
            target=row.target,
            detail=dict(row.detail),
        )
        for row in rows
    ]


# -- tokens -----------------------------------------------------------------------------------


def insert_token(conn: Connection, name: str, digest: str, role: str, now: datetime) -> None:
    conn.execute(
        sa.insert(tokens).values(name=name, hash=digest, role=role, created=now, revoked=None)
    )


def get_token(conn: Connection, name: str) -> TokenRecord | None:
    row = conn.execute(sa.select(tokens).where(tokens.c.name == name)).first()
    return _token(row) if row is not None else None


def list_tokens(conn: Connection) -> list[TokenRecord]:
    return [_token(row) for row in conn.execute(sa.select(tokens).order_by(tokens.c.name))]


def active_tokens(conn: Connection) -> list[TokenRecord]:
    rows = conn.execute(sa.select(tokens).where(tokens.c.revoked.is_(None)))
    return [_token(row) for row in rows]


def revoke_token(conn: Connection, name: str, now: datetime) -> bool:
    result = conn.execute(
        sa.update(tokens)
        .where(tokens.c.name == name, tokens.c.revoked.is_(None))
        .values(revoked=now)
    )
    return result.rowcount == 1


def replace_token(conn: Connection, name: str, digest: str, role: str) -> bool:
    """Give the existing token ``name`` this hash and role and clear its revocation, unless it
    has them already; True if the row changed.

    One conditional update, so that of several processes seeding at once exactly one changes the
    row and records it (on PostgreSQL the others wait for its lock, then find nothing to do).
    """
    result = conn.execute(
        sa.update(tokens)
        .where(
            tokens.c.name == name,
            sa.or_(tokens.c.hash != digest, tokens.c.role != role, tokens.c.revoked.is_not(None)),
        )
        .values(hash=digest, role=role, revoked=None)
    )
    return result.rowcount == 1
