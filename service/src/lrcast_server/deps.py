"""FastAPI dependencies, each named once as an ``Annotated`` alias."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from lrcast_server import observability
from lrcast_server.auth import Principal, Role, authorize
from lrcast_server.conditions import IF_MATCH_PATTERN
from lrcast_server.core import Core

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token made with `lrcast-server token create` (`lrc_…`). Writes always need "
    "one; reads too when the server is bound beyond loopback without `--insecure`.",
)


def get_core(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


CoreDep = Annotated[Core, Depends(get_core)]


async def principal(request: Request, core: Core, needed: Role) -> Principal:
    """Who is asking, checked against the role ``needed`` (401 or 403 otherwise)."""
    if core.tokens.stale and "authorization" in request.headers:
        await run_in_threadpool(core.tokens.refresh)
    who = authorize(
        core.tokens,
        request.headers.get("authorization"),
        needed,
        reads_need_token=core.reads_need_token,
    )
    observability.note_token(request.scope, who.name)
    return who


def _requires(needed: Role) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        request: Request,
        core: CoreDep,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        return await principal(request, core, needed)

    dependency.__name__ = f"requires_{needed.name}"
    return dependency


Reader = Annotated[Principal, Depends(_requires(Role.read))]
Writer = Annotated[Principal, Depends(_requires(Role.write))]
Admin = Annotated[Principal, Depends(_requires(Role.admin))]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        pattern=r"^\s*\*\s*$",
        description="`*`: apply the write only if the resource does not exist yet (create "
        "only); 412 otherwise.",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        pattern=IF_MATCH_PATTERN,
        description="Apply the write only if the resource's current ETag is one of these "
        "(`*`: if it exists); 412 otherwise.",
    ),
]
