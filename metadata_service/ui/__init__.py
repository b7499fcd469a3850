"""The web console: static pages served by the service itself under `/ui`.

Everything the browser needs ships in `static/` (plain HTML, CSS and ES modules; no CDN, no
front-end build). The pages call the public API (`/v1/...`) with the user's bearer token, plus a
few read-only views the API has no route for (`/ui/api/...`, see `api.py`). Wire it into an app
with one call::

    from metadata_service.ui import mount_ui
    mount_ui(app)
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from .api import router as api_router

__all__ = ["STATIC_DIR", "mount_ui"]

STATIC_DIR = Path(__file__).parent / "static"

# The console loads nothing from elsewhere; the policy makes that a promise the browser keeps.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Kept here rather than as a static file so it ships with the package-data patterns as they are.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f6f5c"/>'
    '<path d="M4 12V4h4a2.5 2.5 0 0 1 0 5H4m4 0 3 3" stroke="#fff" stroke-width="1.6" fill="none"/></svg>'
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def mount_ui(app: FastAPI) -> None:
    """Serve the console at `/ui` (index), `/ui/static/*` (assets) and `/ui/api/*` (console views)."""
    if any(getattr(route, "path", None) == "/ui/" for route in app.router.routes):
        return  # already mounted (idempotent, so tests and create_app can both call it)
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    async def ui_index() -> HTMLResponse:
        return HTMLResponse(index, headers=_HEADERS)

    async def ui_redirect() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    async def ui_favicon() -> Response:
        return Response(FAVICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    app.include_router(api_router)
    app.add_api_route("/ui/favicon.svg", ui_favicon, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/", ui_index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui", ui_redirect, methods=["GET"], include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
