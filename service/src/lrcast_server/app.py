"""The application factory: ``create_app(settings)`` builds one lrcast server.

It opens the database, brings the schema to the newest migration, seeds the admin token from
``LRCAST_ADMIN_TOKEN`` if set, and wires routes, error handlers, the docs (served with no CDN)
and the two middlewares. ``lrcast-server serve`` hands it to uvicorn as a factory, so each
worker process builds its own.
"""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

import lrcast
from lrcast._validation import error_details
from lrcast_server import __version__, dashboard
from lrcast_server.api import audit_routes, health, run_routes, schedule_routes
from lrcast_server.auth import seed_admin_token
from lrcast_server.core import Core
from lrcast_server.db import Database, migrate
from lrcast_server.errors import (
    DATABASE_DOWN,
    PROBLEM_CONTENT_TYPE,
    InvalidRequestError,
    LrcastServerError,
    http_status_error,
    log_unexpected,
    problem_response,
)
from lrcast_server.middleware import BodyLimit, HotPath, QueryCheck
from lrcast_server.observability import Observe
from lrcast_server.settings import Settings, get_settings

STATIC = Path(str(resources.files("lrcast_server").joinpath("static")))

DESCRIPTION = """\
Learning-rate schedules (and any optimizer hyperparameter curve) as a service.

Publish named, versioned **schedules**; bind training **runs** to them; ask
`GET /v1/runs/{run}/lr?step=S` on every rank. For a given run and step every answer is the same
float64, bit for bit, even while the schedule is edited: steps are committed a block at a time
and an edit takes effect only at the first block boundary past what was answered.

Errors are `application/problem+json` with the path of every bad field. Writes need a bearer
token (`lrcast-server token create`); reads too when the server is bound beyond loopback.
"""

TAGS = [
    {"name": "runs", "description": "Training runs bound to schedules, and their values."},
    {"name": "schedules", "description": "Named schedules and their immutable versions."},
    {"name": "audit", "description": "Who changed what, and when."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]

_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _validation_details(errors: Any) -> list[lrcast.ErrorDetail]:
    """FastAPI's validation errors as lrcast's: dotted paths without the request location."""
    details: list[lrcast.ErrorDetail] = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        kind = error.get("type")
        if kind == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            details.append(lrcast.ErrorDetail("", f"the body is not valid JSON: {reason}"))
        elif kind == "missing" and not loc:
            details.append(lrcast.ErrorDetail("", "a JSON body is required"))
        else:
            details.extend(error_details([{**error, "loc": loc}]))
    return details


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc.errors())
    return problem_response(InvalidRequestError("; ".join(map(str, details)), errors=details))


async def _on_error(_request: Request, exc: Exception) -> Response:
    return problem_response(exc)


def _allowed_methods(request: Request) -> str:
    """Every method the API offers for the request's path (Starlette names only one route's)."""
    methods: set[str] = set()
    for template, item in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), request.url.path):
            methods |= {method.upper() for method in item}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    response = problem_response(http_status_error(exc.status_code, str(exc.detail)))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed_methods(request)
    return response


async def _on_unexpected(_request: Request, exc: Exception) -> Response:
    log_unexpected(exc)
    return problem_response(exc)


def _docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` from the package's own copies of their scripts and styles."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="lrcast API",
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
            swagger_favicon_url="/static/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="lrcast API",
            redoc_js_url="/static/redoc.standalone.js",
            redoc_favicon_url="/static/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.png", media_type="image/png")


def _without_null(parameter: dict[str, Any]) -> None:
    """An optional parameter is left out, never sent as null: document only its real type
    (``anyOf: [T, null]`` made clients send ``If-Match: null``)."""
    schema = parameter.get("schema", {})
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if not parameter.get("required") and len(options) == 1 < len(schema["anyOf"]):
        del schema["anyOf"]
        schema.update(options[0])


def _refine_openapi(app: FastAPI) -> None:
    """Document error responses with the one media type they are sent with, and the token as
    optional for reads (open on loopback, needed beyond it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, item in schema["paths"].items():
                for method, operation in item.items():
                    read = method == "get" or path == "/v1/evaluate"
                    admin = operation.get("x-lrcast-role") == "admin"
                    if operation.get("security") and read and not admin:
                        operation["security"] = [*operation["security"], {}]
                    for parameter in operation.get("parameters", []):
                        _without_null(parameter)
                    for code, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if code[0] in "45" and PROBLEM_CONTENT_TYPE in content:
                            content.pop("application/json", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class LrcastApp(FastAPI):
    """FastAPI, with the per-step answer served before any middleware or routing."""

    hot_path: HotPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot_path is not None and await self.hot_path.handle(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> LrcastApp:
    """A ready lrcast server (schema migrated, admin token seeded)."""
    settings = settings or get_settings()
    database = Database.from_url(settings.resolved_database_url)
    migrate(database)
    if settings.admin_token is not None:
        seed_admin_token(database, settings.admin_token.get_secret_value())
    core = Core(settings, database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What start-up built lives as long as the process: keep it out of the collector's
        # full passes, which would otherwise pause answers.
        gc.freeze()
        yield
        core.close()

    app = LrcastApp(
        title="lrcast",
        version=__version__,
        summary="Learning-rate schedules as a service.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.core = core
    app.include_router(run_routes)
    app.include_router(schedule_routes)
    app.include_router(audit_routes)
    app.include_router(health)
    _docs(app)
    dashboard.install(app)
    _refine_openapi(app)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(LrcastServerError, _on_error)
    app.add_exception_handler(lrcast.LrcastError, _on_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    # Database errors: a 503 when the database cannot answer, else a 500; either way logged
    # here once (the catch-all below would have the server log a traceback again).
    for raised in (DBAPIError, *DATABASE_DOWN):
        app.add_exception_handler(raised, _on_unexpected)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(QueryCheck)
    app.add_middleware(Observe)
    app.hot_path = HotPath(core)
    return app
