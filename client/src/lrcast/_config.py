"""The client's small configuration objects: how long to wait, and how to retry."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds to open a connection."""
DEFAULT_READ_TIMEOUT = 30.0
"""Seconds to wait for an answer (a lease of many blocks takes longer than one step)."""
DEFAULT_RETRIES = 4
"""Attempts after the first one."""
DEFAULT_BACKOFF = 0.2
"""Seconds before the first retry; doubled on each next one."""
DEFAULT_MAX_BACKOFF = 5.0
"""The longest wait between two attempts."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses worth trying again: too many requests, and the server's own failures."""


@dataclass(frozen=True, kw_only=True)
class Timeout:
    """Seconds to wait for each phase of a request (``None``: no limit).

    >>> Timeout(read=5.0)
    Timeout(connect=5.0, read=5.0, write=30.0, pool=30.0)
    """

    connect: float | None = DEFAULT_CONNECT_TIMEOUT
    read: float | None = DEFAULT_READ_TIMEOUT
    write: float | None = DEFAULT_READ_TIMEOUT
    pool: float | None = DEFAULT_READ_TIMEOUT

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True, kw_only=True)
class Retry:
    """Retries with jittered exponential backoff ("full jitter").

    Retried: connection errors, 429 and 5xx (a ``Retry-After`` header is honoured, up to
    ``max_backoff``). Never a 4xx other than 429: those are the caller's mistake. Attempt ``n``
    (0 first) waits a uniform random time in ``[0, min(max_backoff, backoff * 2**n)]``.

    >>> Retry(retries=0)  # one attempt only
    Retry(retries=0, backoff=0.2, max_backoff=5.0)
    """

    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    max_backoff: float = DEFAULT_MAX_BACKOFF

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff and max_backoff must be >= 0")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0 first)."""
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** min(attempt, 62))
        wait = random.uniform(0.0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_backoff))
        return wait


DEFAULT_TIMEOUT = Timeout()
DEFAULT_RETRY = Retry()
