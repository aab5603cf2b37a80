"""``/docs``: the interactive API reference (Swagger UI), served from files shipped with the install.

FastAPI's own page loads Swagger UI from a CDN, so an air-gapped install showed a blank page. Here the
bundle and stylesheet come from the ``fastapi-offline`` package (a copy of swagger-ui-dist), under
``/docs/assets/``; the page is FastAPI's :func:`~fastapi.openapi.docs.get_swagger_ui_html` pointed at those
routes, with its inline start-up script replaced by ``/docs/init.js``, so the page runs under a
``script-src 'self'`` policy. Every response here carries that policy (:data:`DOCS_CSP`) itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException

DOCS_URL = "/docs"
UI_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
INIT_JS = Path(__file__).resolve().parent / "docs_static" / "init.js"
FILES = {  # name under /docs/assets/ -> (file, media type); only what the page loads
    "swagger-ui-bundle.js": (UI_ASSETS / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (UI_ASSETS / "swagger-ui.css", "text/css"),
    "favicon.png": (UI_ASSETS / "favicon.png", "image/png"),
}
#: Scripts and styles from this server only; Swagger UI sets style attributes and uses data: images.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(r"<script>.*?</script>", re.S)


def docs_page(title: str, openapi_url: str = "/openapi.json") -> str:
    """FastAPI's Swagger UI page on the local assets, its inline script swapped for ``/docs/init.js``."""
    page = bytes(get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{DOCS_URL}/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_URL}/assets/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_URL}/assets/favicon.png",
    ).body).decode()
    return _INLINE_SCRIPT.sub(f'<script src="{DOCS_URL}/init.js"></script>', page)


def mount_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (create the app with ``docs_url=None`` so FastAPI's CDN page is not served)."""
    page = docs_page(f"{app.title} API")
    headers = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"}

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @app.get(f"{DOCS_URL}/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return FileResponse(INIT_JS, media_type="text/javascript", headers=headers)

    @app.get(DOCS_URL + "/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in FILES:
            raise HTTPException(404)  # the API's error document (api/app.py handle_error)
        path, media_type = FILES[name]
        return FileResponse(path, media_type=media_type,
                            headers={**headers, "Cache-Control": "public, max-age=86400"})
