"""The audit trail: every write that changes something records who, what and when.

An entry is written in the transaction of the write it describes, so it exists exactly when the
write does. Repeats that change nothing (the same bind, the same document) record nothing;
metric reports are kept in their own table with their reporter, and only the reductions they
trigger are audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from lrcast._schemas import AuditEntry, AuditPage
from lrcast_server import storage
from lrcast_server.auth import Principal
from lrcast_server.core import Core


def record(
    conn: Connection,
    principal: Principal | None,
    action: str,
    target: str,
    **detail: Any,
) -> None:
    """Write one entry: ``action`` (``run.patch``, …) on ``target`` (``run/<id>``, …)."""
    storage.insert_audit(
        conn,
        at=storage.utcnow(),
        actor=principal.name if principal is not None else None,
        action=action,
        target=target,
        detail=detail,
    )


def page(
    core: Core,
    *,
    cursor: int | None,
    limit: int,
    target: str | None,
    action: str | None,
    actor: str | None,
) -> AuditPage:
    with core.database.read() as conn:
        rows = storage.list_audit(
            conn, after=cursor, limit=limit + 1, target=target, action=action, actor=actor
        )
    shown = rows[:limit]
    return AuditPage(
        items=[
            AuditEntry(
                id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target, detail=r.detail
            )
            for r in shown
        ],
        next_cursor=str(shown[-1].id) if len(rows) > limit else None,
    )
