"""The audit trail: every write that changes something records who, what and when.

An entry is written in the transaction of the write it describes, so it exists exactly when the
write does. Repeats that change nothing (the same bind, the same document) record nothing;
metric reports are kept in their own table with their reporter, and only the reductions they
trigger are audited.

Writes made through the API record the name of their token as the actor. Token management has no
token to name: ``lrcast-server token …`` records as ``cli`` and the seeding of
``LRCAST_ADMIN_TOKEN`` at start-up as ``env``. No token may take either name, so an actor always
means one kind of caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from lrcast._schemas import AuditEntry, AuditPage
from lrcast_server import storage

if TYPE_CHECKING:  # auth records token changes here: importing it at run time would be a cycle
    from lrcast_server.auth import Principal
    from lrcast_server.core import Core

CLI_ACTOR = "cli"
"""The actor of ``lrcast-server token create|revoke``, a local command run without a token."""
ENV_ACTOR = "env"
"""The actor of the ``env-admin`` token's seeding from ``LRCAST_ADMIN_TOKEN``."""
LOCAL_ACTORS = frozenset({CLI_ACTOR, ENV_ACTOR})
"""Actors that are not tokens: names no token may take."""


def record(
    conn: Connection,
    principal: Principal | None,
    action: str,
    target: str,
    **detail: Any,
) -> None:
    """Write one entry: ``action`` (``run.patch``, …) on ``target`` (``run/<id>``, …)."""
    record_as(conn, principal.name if principal is not None else None, action, target, **detail)


def record_as(conn: Connection, actor: str | None, action: str, target: str, **detail: Any) -> None:
    """Write one entry by ``actor``: a token's name, or one of ``LOCAL_ACTORS``."""
    storage.insert_audit(
        conn, at=storage.utcnow(), actor=actor, action=action, target=target, detail=detail
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
