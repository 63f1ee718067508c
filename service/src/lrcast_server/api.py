"""The HTTP routes: each parses, calls one service function and returns a schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

import lrcast
from lrcast._schemas import (
    MAX_LEASE_BLOCKS,
    MAX_VERSION,
    METRIC_NAME_PATTERN,
    RUN_ID_PATTERN,
    SCHEDULE_NAME_PATTERN,
    AuditPage,
    EvaluateAnswer,
    EvaluateRequest,
    Lease,
    LrAnswer,
    MetricPage,
    MetricReport,
    MetricResult,
    Problem,
    PublishResult,
    RangeAnswer,
    RunCreate,
    RunEdit,
    RunPage,
    RunPatch,
    RunRead,
    ScheduleLrAnswer,
    SchedulePage,
    ScheduleRangeAnswer,
    ScheduleVersionRead,
    VersionPage,
)
from lrcast_server import audit, observability, plateau, runs, schedules
from lrcast_server.deps import Admin, CoreDep, IfMatch, IfNoneMatch, Reader, Writer
from lrcast_server.errors import PROBLEM_CONTENT_TYPE, InvalidRequestError

JSON = "application/json"

_REASONS = {
    401: "No token, or an unknown or revoked one.",
    403: "The token's role is too low.",
    404: "No such resource.",
    409: "The resource is in a state that refuses this.",
    412: "`If-Match` does not name the current ETag.",
    413: "The request body is larger than the server accepts.",
    415: "The request body is not JSON.",
    422: "Invalid input: `errors` names every bad field.",
    503: "The database cannot answer (try again: `Retry-After`), or the run is edited too "
    "often to commit a step.",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem statuses an operation can return (401 and 403 of
    the token check and 503 of the database, besides ``codes``)."""
    return {
        code: {
            "model": Problem,
            "description": _REASONS[code],
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in sorted({401, 403, *codes, 503})
    }


def _body_problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return problems(413, 415, 422, *codes)


ScheduleNamePath = Annotated[
    str,
    Path(pattern=SCHEDULE_NAME_PATTERN, description="The schedule's name.", examples=["resnet50"]),
]
RunIdPath = Annotated[
    str,
    Path(
        pattern=RUN_ID_PATTERN,
        max_length=200,
        description="The run's id.",
        examples=["resnet50-seed1"],
    ),
]
StepQuery = Annotated[
    int | None,
    Query(ge=0, le=lrcast.MAX_STEP, description="One step: the per-step answer.", examples=[1200]),
]
StartQuery = Annotated[
    int | None, Query(ge=0, le=lrcast.MAX_STEP, description="First step of a range.")
]
StopQuery = Annotated[
    int | None,
    Query(ge=1, le=lrcast.MAX_STEP + 1, description="First step after a range (exclusive)."),
]
EveryQuery = Annotated[int, Query(ge=1, le=lrcast.MAX_STEP, description="Stride of a range.")]
MAX_AUDIT_ID = 2**63 - 1
"""The largest audit entry id (a 64-bit column): a larger cursor would not reach the database."""
LimitQuery = Annotated[int, Query(ge=1, le=500, description="Most items on one page.")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=200, description="`next_cursor` of the previous page."),
]
LengthQuery = Annotated[int | None, Query(ge=1, le=lrcast.MAX_STEP)]


def _step_or_range(step: int | None, start: int | None, stop: int | None) -> bool:
    """True for one step, False for a range; 422 unless exactly one of them is given."""
    if step is not None and start is None and stop is None:
        return True
    if step is None and start is not None and stop is not None:
        return False
    detail = "give either step, or start and stop (and optionally every)"
    raise InvalidRequestError(detail, errors=[lrcast.ErrorDetail("step", detail)])


def _json(body: bytes) -> Response:
    return Response(body, media_type=JSON)


def _etag(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag


# -- health -----------------------------------------------------------------------------------

health = APIRouter(tags=["health"])


@health.get(
    "/healthz",
    summary="Liveness",
    description="Answers while the process runs; touches nothing else.",
    responses={200: {"content": {JSON: {"example": {"status": "ok"}}}}},
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get(
    "/readyz",
    summary="Readiness",
    description="Answers 200 when the database is reachable, 503 otherwise.",
    responses={
        200: {"content": {JSON: {"example": {"status": "ready"}}}},
        503: problems(503)[503],
    },
)
async def readyz(core: CoreDep) -> dict[str, str]:
    await run_in_threadpool(core.ready)
    return {"status": "ready"}


@health.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Requests and latency by route template, leases, horizon raises, edits, block "
    "cache hits and misses, metric reports and plateau reductions, summed over every worker "
    "process of this server. No token needed: it names no run and no schedule.",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/plain": {
                    "example": "# TYPE lrcast_lease_requests_total counter\n"
                    "lrcast_lease_requests_total 12.0\n"
                }
            }
        }
    },
)
async def prometheus() -> Response:
    body, content_type = await run_in_threadpool(observability.render)
    return Response(body, media_type=content_type)


# -- schedules --------------------------------------------------------------------------------

schedule_routes = APIRouter(prefix="/v1", tags=["schedules"])


@schedule_routes.put(
    "/schedules/{name}",
    summary="Publish a schedule version",
    description="Stores the document as the schedule's next version (201; version 1 creates "
    "the schedule). Every live run following `latest` switches to it at its own next block "
    "boundary; `runs` lists them with the step. Publishing the same document as the latest "
    "version is a no-op (200, `published: false`).",
    response_model=PublishResult,
    status_code=status.HTTP_201_CREATED,
    responses=_body_problems(412)
    | {200: {"model": PublishResult, "description": "Same as the latest version."}},
)
async def publish_schedule(
    name: ScheduleNamePath,
    document: Annotated[lrcast.ScheduleDocument, Body()],
    principal: Writer,
    core: CoreDep,
    response: Response,
    if_match: IfMatch = None,
    if_none_match: IfNoneMatch = None,
) -> PublishResult:
    result, etag, created = await run_in_threadpool(
        lambda: schedules.publish(
            core,
            name,
            document,
            principal=principal,
            if_match=if_match,
            if_none_match=if_none_match is not None,
        )
    )
    _etag(response, etag)
    response.headers["Location"] = f"/v1/schedules/{name}/versions/{result.version}"
    if not created:
        response.status_code = status.HTTP_200_OK
    return result


@schedule_routes.get(
    "/schedules",
    summary="List schedules",
    description="Schedules by name (archived ones left out), a page at a time.",
    response_model=SchedulePage,
    responses=problems(422),
)
async def list_schedules(
    _: Reader, core: CoreDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> SchedulePage:
    return await run_in_threadpool(lambda: schedules.list_page(core, cursor=cursor, limit=limit))


@schedule_routes.get(
    "/schedules/{name}",
    summary="Read a schedule's latest version",
    description="The latest version's document; `ETag` names the version.",
    response_model=ScheduleVersionRead,
    responses=problems(404, 422),
)
async def read_schedule(
    name: ScheduleNamePath, _: Reader, core: CoreDep, response: Response
) -> ScheduleVersionRead:
    read, etag = await run_in_threadpool(schedules.latest, core, name)
    _etag(response, etag)
    return read


@schedule_routes.get(
    "/schedules/{name}/versions",
    summary="List a schedule's versions",
    description="Every version, oldest first, a page at a time (documents left out).",
    response_model=VersionPage,
    responses=problems(404, 422),
)
async def list_versions(
    name: ScheduleNamePath,
    _: Reader,
    core: CoreDep,
    limit: LimitQuery = 50,
    cursor: Annotated[
        int | None,
        Query(ge=0, le=MAX_VERSION, description="`next_cursor` of the previous page."),
    ] = None,
) -> VersionPage:
    return await run_in_threadpool(
        lambda: schedules.versions_page(core, name, cursor=cursor, limit=limit)
    )


@schedule_routes.get(
    "/schedules/{name}/versions/{version}",
    summary="Read one version",
    description="One immutable version of a schedule.",
    response_model=ScheduleVersionRead,
    responses=problems(404, 422),
)
async def read_version(
    name: ScheduleNamePath,
    version: Annotated[int, Path(ge=1, le=MAX_VERSION, description="The version number.")],
    _: Reader,
    core: CoreDep,
    response: Response,
) -> ScheduleVersionRead:
    read, etag = await run_in_threadpool(schedules.version, core, name, version)
    _etag(response, etag)
    return read


@schedule_routes.get(
    "/schedules/{name}/lr",
    summary="Evaluate a stored schedule",
    description="Without a run (no scale, offset or groups): `step=S` for one step, or "
    "`start`, `stop` (exclusive) and `every` for a range. `version` defaults to the latest; "
    "`total_steps` and `steps_per_epoch` resolve `%` and `ep` durations.",
    response_model=ScheduleLrAnswer | ScheduleRangeAnswer,
    responses=problems(404, 422),
)
async def evaluate_schedule(
    name: ScheduleNamePath,
    _: Reader,
    core: CoreDep,
    step: StepQuery = None,
    start: StartQuery = None,
    stop: StopQuery = None,
    every: EveryQuery = 1,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    total_steps: LengthQuery = None,
    steps_per_epoch: LengthQuery = None,
) -> ScheduleLrAnswer | ScheduleRangeAnswer:
    if _step_or_range(step, start, stop):
        assert step is not None
        return await run_in_threadpool(
            lambda: schedules.value_at(
                core,
                name,
                number=version,
                step=step,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
            )
        )
    assert start is not None
    assert stop is not None
    return await run_in_threadpool(
        lambda: schedules.values_over(
            core,
            name,
            number=version,
            start=start,
            stop=stop,
            every=every,
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
        )
    )


@schedule_routes.delete(
    "/schedules/{name}",
    summary="Archive a schedule",
    description="Refused (409) while a live run uses it. Needs the admin role. Archived runs "
    "keep their answers; publishing the name again continues its version numbers.",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(404, 409, 412, 422),
)
async def archive_schedule(
    name: ScheduleNamePath, principal: Admin, core: CoreDep, if_match: IfMatch = None
) -> None:
    await run_in_threadpool(
        lambda: schedules.archive(core, name, if_match=if_match, principal=principal)
    )


@schedule_routes.post(
    "/evaluate",
    summary="Evaluate an inline document",
    description="Validates a document and evaluates it over `range(start, stop, every)` "
    "without storing anything: a preview, or a validation with the path of every bad field.",
    response_model=EvaluateAnswer,
    responses=_body_problems(),
)
async def evaluate(request: EvaluateRequest, _: Reader, core: CoreDep) -> EvaluateAnswer:
    return await run_in_threadpool(schedules.evaluate, core, request)


# -- runs -------------------------------------------------------------------------------------

run_routes = APIRouter(prefix="/v1", tags=["runs"])


@run_routes.put(
    "/runs/{run}",
    summary="Bind a run",
    description="Binds a run to a schedule (201). The same body again is a no-op (200), so a "
    "restarted job may repeat it; a different body is 409 (PATCH the run instead).",
    response_model=RunRead,
    status_code=status.HTTP_201_CREATED,
    responses=_body_problems(409, 412)
    | {200: {"model": RunRead, "description": "Already bound with this body."}},
)
async def bind_run(
    run: RunIdPath,
    body: RunCreate,
    principal: Writer,
    core: CoreDep,
    response: Response,
    if_match: IfMatch = None,
    if_none_match: IfNoneMatch = None,
) -> RunRead:
    read, etag, created = await run_in_threadpool(
        lambda: runs.bind(
            core,
            run,
            body,
            if_match=if_match,
            principal=principal,
            if_none_match=if_none_match is not None,
        )
    )
    _etag(response, etag)
    if created:
        response.headers["Location"] = f"/v1/runs/{run}"
    else:
        response.status_code = status.HTTP_200_OK
    return read


@run_routes.get(
    "/runs",
    summary="List runs",
    description="Runs by id, a page at a time; archived ones only with `archived=true`.",
    response_model=RunPage,
    responses=problems(422),
)
async def list_runs(
    _: Reader,
    core: CoreDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    schedule: Annotated[
        str | None, Query(pattern=SCHEDULE_NAME_PATTERN, description="Only runs bound to it.")
    ] = None,
    archived: Annotated[bool, Query(description="Include archived runs.")] = False,
) -> RunPage:
    return await run_in_threadpool(
        lambda: runs.list_page(
            core, cursor=cursor, limit=limit, schedule=schedule, archived=archived
        )
    )


@run_routes.get(
    "/runs/{run}",
    summary="Read a run",
    description="The binding, the timeline (every segment with the step it starts at), the "
    "horizon (last committed step) and the last step a trainer asked about.",
    response_model=RunRead,
    responses=problems(404, 422),
)
async def read_run(run: RunIdPath, _: Reader, core: CoreDep, response: Response) -> RunRead:
    read, etag = await run_in_threadpool(runs.get, core, run)
    _etag(response, etag)
    return read


@run_routes.patch(
    "/runs/{run}",
    summary="Edit a run",
    description="Changes any of `schedule`, `version`, `scale`, `offset`, `groups`, "
    "`total_steps`, `steps_per_epoch` from `at_step` or the first block boundary past the "
    "horizon, whichever is later; `effective_step` says which. Steps already answered never "
    "change. Edits scheduled after the effective step are superseded.",
    response_model=RunEdit,
    responses=_body_problems(404, 409, 412),
)
async def edit_run(
    run: RunIdPath,
    body: RunPatch,
    principal: Writer,
    core: CoreDep,
    response: Response,
    if_match: IfMatch = None,
) -> RunEdit:
    read, etag = await run_in_threadpool(
        lambda: runs.patch(core, run, body, if_match=if_match, principal=principal)
    )
    _etag(response, etag)
    return read


@run_routes.delete(
    "/runs/{run}",
    summary="Archive a run",
    description="The run stops following new versions and no longer holds its schedule; its "
    "answers stay available and unchanged. Idempotent.",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(404, 412, 422),
)
async def archive_run(
    run: RunIdPath, principal: Writer, core: CoreDep, if_match: IfMatch = None
) -> None:
    await run_in_threadpool(lambda: runs.archive(core, run, if_match=if_match, principal=principal))


@run_routes.get(
    "/runs/{run}/lr",
    summary="The lr of a run at a step (the hot path)",
    description="`step=S`: every value for step S, committing its block: the same floats for "
    "this run and step forever, on every rank and replica. `start`, `stop` (exclusive) and "
    "`every`: a range as arrays, a preview that commits nothing (values past "
    "`committed_until` are provisional).",
    response_model=LrAnswer | RangeAnswer,
    responses=problems(404, 422),
)
async def run_lr(
    run: RunIdPath,
    _: Reader,
    core: CoreDep,
    step: StepQuery = None,
    start: StartQuery = None,
    stop: StopQuery = None,
    every: EveryQuery = 1,
) -> Any:
    if _step_or_range(step, start, stop):
        assert step is not None
        return _json(await run_in_threadpool(runs.answer, core, run, step))
    assert start is not None
    assert stop is not None
    return await run_in_threadpool(
        lambda: runs.values_over(core, run, start=start, stop=stop, every=every)
    )


@run_routes.get(
    "/runs/{run}/lease",
    summary="Lease blocks of a run",
    description="Commits and returns `blocks` whole blocks from the one holding `step`, with "
    "the timeline segments they come from; a client answers those steps locally.",
    response_model=Lease,
    responses=problems(404, 422),
)
async def lease(
    run: RunIdPath,
    step: Annotated[int, Query(ge=0, le=lrcast.MAX_STEP, description="A step in the first block.")],
    _: Reader,
    core: CoreDep,
    blocks: Annotated[int, Query(ge=1, le=MAX_LEASE_BLOCKS, description="How many blocks.")] = 1,
) -> Lease:
    return await run_in_threadpool(runs.lease, core, run, step, blocks)


@run_routes.post(
    "/runs/{run}/metrics",
    summary="Report a metric",
    description="Stores `value` of metric `name` at `step` (201). Idempotent per (run, step, "
    "name): the same value again is a no-op (200), another value 409. A report of the metric "
    "the run's `plateau` watches drives torch's ReduceLROnPlateau rule, in step order (a "
    "report for a step at or before one already applied is stored, not applied); a reduction "
    "multiplies lr from the first block boundary past the step and the horizon "
    "(`plateau.effective_step`).",
    response_model=MetricResult,
    status_code=status.HTTP_201_CREATED,
    responses=_body_problems(404, 409, 412)
    | {200: {"model": MetricResult, "description": "Already reported with this value."}},
)
async def report_metric(
    run: RunIdPath,
    body: MetricReport,
    principal: Writer,
    core: CoreDep,
    response: Response,
    if_match: IfMatch = None,
) -> MetricResult:
    result, created = await run_in_threadpool(
        lambda: plateau.report(core, run, body, principal=principal, if_match=if_match)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return result


@run_routes.get(
    "/runs/{run}/metrics",
    summary="List a run's metrics",
    description="Reports by step, then name, a page at a time (up to 10,000 a page).",
    response_model=MetricPage,
    responses=problems(404, 422),
)
async def list_metrics(
    run: RunIdPath,
    _: Reader,
    core: CoreDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Most items on one page.")] = 1000,
    cursor: CursorQuery = None,
    name: Annotated[
        str | None, Query(pattern=METRIC_NAME_PATTERN, description="Only this metric.")
    ] = None,
) -> MetricPage:
    return await run_in_threadpool(
        lambda: plateau.metrics_page(core, run, cursor=cursor, limit=limit, name=name)
    )


# -- audit ------------------------------------------------------------------------------------

audit_routes = APIRouter(prefix="/v1", tags=["audit"])


@audit_routes.get(
    "/audit",
    summary="Read the audit trail",
    description="Every write that changed something, oldest first: who (the token's name), "
    "what (`action` on `target`, with the change and its effective step) and when. Needs the "
    "admin role.",
    response_model=AuditPage,
    responses=problems(422),
    openapi_extra={"x-lrcast-role": "admin"},
)
async def read_audit(
    _: Admin,
    core: CoreDep,
    limit: LimitQuery = 50,
    cursor: Annotated[
        int | None,
        Query(ge=0, le=MAX_AUDIT_ID, description="`next_cursor` of the previous page."),
    ] = None,
    target: Annotated[
        str | None,
        Query(max_length=300, description="Only entries on this target (`run/<id>`, …)."),
    ] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="Only this action (`run.patch`, …).")
    ] = None,
    actor: Annotated[str | None, Query(max_length=128, description="Only this token.")] = None,
) -> AuditPage:
    return await run_in_threadpool(
        lambda: audit.page(
            core, cursor=cursor, limit=limit, target=target, action=action, actor=actor
        )
    )
