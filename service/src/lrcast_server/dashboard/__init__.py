"""The web dashboard: ``GET /`` and its assets under ``/ui/``, all served by lrcast itself.

The page is static HTML, CSS and vanilla JavaScript (plots are SVG drawn in the browser); it
talks to the server only through the public ``/v1`` API, with the token the user types kept in
the tab's ``sessionStorage``. Nothing is fetched from anywhere else, and the Content Security
Policy on the page says so.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC", "install"]

STATIC = Path(str(resources.files("lrcast_server.dashboard").joinpath("static")))

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""Only lrcast's own origin: no CDN, no inline script, no third party."""


def install(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` and its assets at ``/ui/`` (left out of the API schema)."""
    app.mount("/ui", StaticFiles(directory=STATIC), name="dashboard")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            media_type="text/html",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )
