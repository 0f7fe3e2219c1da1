"""``/docs``: Swagger UI over the service's ``/openapi.json``, served from the service itself.

FastAPI's page loads Swagger UI from a CDN, which ministries' networks (and air-gapped hosts)
cannot reach; the ``fastapi-offline`` distribution ships the same Swagger UI build, so the page
and its three assets come from here. These paths (and ``/openapi.json``) are public on every
service, like the API documentation of any public API: :data:`DOCS_PATHS` is what the token
gates leave open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from services.core.http.json_body import JsonRoute

DOCS_URL: Final = "/docs"
OPENAPI_URL: Final = "/openapi.json"
OAUTH2_REDIRECT_URL: Final = f"{DOCS_URL}/oauth2-redirect"
_ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
_STATIC: Final = Path(fastapi_offline.__file__).parent / "static"
DOCS_PATHS: Final = frozenset(
    {DOCS_URL, OPENAPI_URL, OAUTH2_REDIRECT_URL, *(f"{DOCS_URL}/{name}" for name in _ASSETS)}
)


def _asset(name: str, media_type: str) -> Callable[[], Awaitable[FileResponse]]:
    """An endpoint answering one fixed file (it takes no parameter: nothing to traverse with)."""
    path = _STATIC / name

    async def asset() -> FileResponse:
        return FileResponse(
            path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    return asset


def docs_router(title: str) -> APIRouter:
    """The Swagger UI page, its OAuth2 redirect page and its assets (none in the document)."""
    router = APIRouter(include_in_schema=False, route_class=JsonRoute)

    @router.get(DOCS_URL)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{title} API",
            swagger_js_url=f"{root}{DOCS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_URL}/favicon.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
        )

    @router.get(OAUTH2_REDIRECT_URL)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    for name, media_type in _ASSETS.items():
        router.add_api_route(f"{DOCS_URL}/{name}", _asset(name, media_type), methods=["GET"])
    return router
