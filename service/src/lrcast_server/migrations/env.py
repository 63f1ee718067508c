"""Alembic environment: migrations run on the connection lrcast hands over (see ``db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from lrcast_server.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations with `lrcast-server migrate`, which passes a connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
