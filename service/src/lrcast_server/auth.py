"""Bearer tokens: made with ``secrets``, stored as SHA-256 hashes, compared in constant time.

Roles are ordered ``read < write < admin``. Each process keeps a copy of the active tokens for
``token_cache_seconds`` (one second by default), so a revocation takes effect within that.
Creating, revoking and seeding a token is recorded in the audit trail (its role, never the token
or its hash), in the transaction of the change.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from lrcast_server import audit, storage
from lrcast_server.db import Database
from lrcast_server.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
    database_down,
)

TOKEN_PREFIX = "lrc_"
ENV_ADMIN_NAME = "env-admin"
"""The name of the admin token seeded from ``LRCAST_ADMIN_TOKEN``."""

log = logging.getLogger("lrcast_server")


class Role(IntEnum):
    read = 1
    write = 2
    admin = 3


@dataclass(frozen=True)
class Principal:
    """Who made a request: a token's name and role (``name`` None: an open read)."""

    name: str | None
    role: Role


ANONYMOUS_READER = Principal(None, Role.read)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
"""What a token's name may be: it is the actor of every write in the audit trail, and a column
of ``token list``, so nothing blank, no spaces or control characters."""


def create_token(database: Database, name: str, role: Role) -> str:
    """Store a new token and return it (the only time it is ever shown); recorded as
    ``token.create`` by ``cli``."""
    if TOKEN_NAME.fullmatch(name) is None:
        raise InvalidRequestError(
            f"{name!r} is not a token name: 1 to 128 letters, digits and . _ @ + -, "
            "starting with a letter or digit"
        )
    if name in audit.LOCAL_ACTORS:
        raise InvalidRequestError(
            f"{name!r} is reserved: the audit trail names local commands by it"
        )
    token = new_token()
    try:
        with database.write() as conn:
            storage.insert_token(conn, name, token_hash(token), role.name, storage.utcnow())
            audit.record_as(conn, audit.CLI_ACTOR, "token.create", f"token/{name}", role=role.name)
    except IntegrityError:
        raise ConflictError(f"a token named {name!r} exists (revoked names stay taken)") from None
    return token


def revoke_token(database: Database, name: str) -> None:
    """Revoke a token; recorded as ``token.revoke`` by ``cli`` (a token already revoked: nothing
    changes, nothing is recorded)."""
    with database.write() as conn:
        if storage.revoke_token(conn, name, storage.utcnow()):
            audit.record_as(conn, audit.CLI_ACTOR, "token.revoke", f"token/{name}")
        elif storage.get_token(conn, name) is None:
            raise NotFoundError(f"no token named {name!r}")


def list_tokens(database: Database) -> list[storage.TokenRecord]:
    with database.read() as conn:
        return storage.list_tokens(conn)


def seed_admin_token(database: Database, token: str) -> None:
    """Keep the ``env-admin`` token equal to ``token``. Idempotent: when it already is (every
    start but the first after a change), one read; a change is recorded as ``token.seed`` by
    ``env``, once however many processes seed at the same moment."""
    digest = token_hash(token)
    with database.read() as conn:
        current = storage.get_token(conn, ENV_ADMIN_NAME)
    if (
        current is not None
        and current.revoked is None
        and current.hash == digest
        and current.role == Role.admin.name
    ):
        return
    database.transact(lambda conn: _seed(conn, digest))


def _seed(conn: Connection, digest: str) -> None:
    role = Role.admin.name
    if storage.get_token(conn, ENV_ADMIN_NAME) is None:
        # Another process inserting it at the same moment makes this fail; transact runs it again.
        storage.insert_token(conn, ENV_ADMIN_NAME, digest, role, storage.utcnow())
    elif not storage.replace_token(conn, ENV_ADMIN_NAME, digest, role):
        return
    audit.record_as(conn, audit.ENV_ACTOR, "token.seed", f"token/{ENV_ADMIN_NAME}", role=role)


class TokenCache:
    """This process's copy of the active tokens, by hash, refreshed every ``ttl`` seconds."""

    def __init__(self, database: Database, ttl: float) -> None:
        self._database = database
        self._ttl = ttl
        self._tokens: dict[str, tuple[str, str, Role]] = {}
        self._loaded = -float("inf")
        self._lock = threading.Lock()

    @property
    def stale(self) -> bool:
        return time.monotonic() - self._loaded > self._ttl

    def refresh(self) -> None:
        """Read the active tokens again. When the database cannot answer, the tokens known
        stay in use until the next try, ``ttl`` later (steps held in memory are answered on
        through an outage); a token revoked meanwhile works here until the database answers."""
        try:
            with self._database.read() as conn:
                rows = storage.active_tokens(conn)
        except Exception as exc:
            if not database_down(exc) or self._loaded == -float("inf"):
                raise
            first_line = str(exc).splitlines()[0]
            log.warning("tokens not refreshed, the ones known stay in use: %s", first_line)
            self._loaded = time.monotonic()
            return
        tokens = {row.hash: (row.hash, row.name, Role[row.role]) for row in rows}
        with self._lock:
            self._tokens = tokens
            self._loaded = time.monotonic()

    def principal(self, token: str) -> Principal | None:
        """The token's owner, or None if it is unknown or revoked. Call ``refresh`` first when
        ``stale``."""
        digest = token_hash(token)
        # Looking up a SHA-256 digest leaks nothing usable about the token; the final check is
        # constant-time anyway.
        found = self._tokens.get(digest)
        if found is None or not hmac.compare_digest(found[0], digest):
            return None
        return Principal(found[1], found[2])


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (None when absent)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def authorize(
    cache: TokenCache, authorization: str | None, needed: Role, *, reads_need_token: bool
) -> Principal:
    """Who is asking, if allowed to do what needs ``needed``; raises 401 or 403 otherwise."""
    token = bearer_token(authorization)
    if token is None:
        if needed == Role.read and not reads_need_token:
            return ANONYMOUS_READER
        what = "writes" if needed > Role.read else "reads on this server"
        raise UnauthorizedError(f"{what} need a token: send 'Authorization: Bearer <token>'")
    principal = cache.principal(token)
    if principal is None:
        raise UnauthorizedError("unknown or revoked token")
    if principal.role < needed:
        raise ForbiddenError(
            f"this needs the {needed.name} role; the token has {principal.role.name}"
        )
    return principal
