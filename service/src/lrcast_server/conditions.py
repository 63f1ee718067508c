"""ETags and ``If-Match`` (RFC 9110): optimistic concurrency for writes."""

from __future__ import annotations

import secrets

from lrcast_server.errors import PreconditionFailedError

_TAG = r'(?:W/)?"[\x21\x23-\x7e]*"'
IF_MATCH_PATTERN = rf"^\s*(?:\*|{_TAG}(?:\s*,\s*{_TAG})*)\s*$"
"""``*`` or a list of entity tags (RFC 9110)."""


def schedule_etag(version: int) -> str:
    """A schedule (or one of its versions) changes only by publishing: its version names it."""
    return f'"v{version}"'


def new_run_etag() -> str:
    return secrets.token_hex(8)


def run_etag(stored: str) -> str:
    return f'"{stored}"'


def check_if_match(
    if_match: str | None, current: str | None, *, if_none_match: bool = False
) -> None:
    """Refuse (412) unless ``If-Match`` is absent or names the current ETag (``*``: any), and,
    with ``if_none_match`` (``If-None-Match: *``), unless the resource does not exist yet.

    ``current`` is None when the resource does not exist, which no ``If-Match`` matches.
    """
    if if_none_match and current is not None:
        raise PreconditionFailedError(
            f"If-None-Match: * was given but the resource exists (ETag {current})"
        )
    if if_match is None:
        return
    if current is not None:
        candidates = [tag.strip() for tag in if_match.split(",")]
        # Weak tags never match If-Match (strong comparison).
        if "*" in candidates or current in candidates:
            return
        raise PreconditionFailedError(
            f"If-Match {if_match} does not match the current ETag {current}"
        )
    raise PreconditionFailedError("If-Match was given but the resource does not exist")
