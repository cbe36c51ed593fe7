"""OpenAPI docs that work offline: Swagger UI at ``/docs`` (``/redoc`` redirects there).

FastAPI's default docs pages load their JavaScript and CSS from a CDN, so on an offline machine
they stay blank (and online they tell a third party who reads the docs). Here the same pages are
built with :func:`fastapi.openapi.docs.get_swagger_ui_html` but points at assets served by
the app itself, from the static files shipped in the ``fastapi-offline`` package (Swagger UI 5,
Apache-2.0). Only its files are used, not its app factory. ReDoc is not offered: its bundle
loads a logo from cdn.redoc.ly that cannot be switched off.

Without that package ``/docs`` falls back to a short page that links ``/openapi.json`` and says
how to install it, rather than a blank page.

Each page gets its own Content-Security-Policy: scripts from 'self' plus the exact inline
init script (by its SHA-256 hash, so no ``'unsafe-inline'`` scripts), and nothing from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger("voxemo.serving")

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
#: Where the Swagger UI files are served; under /docs so one prefix covers all of it.
ASSETS_URL = "/docs/assets"
#: The PyPI package whose static files are served, and the folder inside it that holds them.
ASSETS_PACKAGE = "fastapi_offline"
ASSETS_DISTRIBUTION = "fastapi-offline"
ASSETS_SUBDIR = "static"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
FAVICON = "favicon.png"
REQUIRED_ASSETS = (SWAGGER_JS, SWAGGER_CSS, FAVICON)

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

#: Shared by every docs page; ``{script_src}`` is filled per page.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self'{script_src}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_FALLBACK_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"


@dataclass(frozen=True)
class DocsPages:
    """URLs of the docs page, its old ReDoc alias and its assets, relative to the app's root path."""

    openapi_url: str
    docs_url: str = DOCS_URL
    redoc_url: str = REDOC_URL
    assets_url: str = ASSETS_URL


def find_docs_assets() -> Path | None:
    """The folder of Swagger UI files from ``fastapi-offline``, or None when not installed."""
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / ASSETS_SUBDIR
    if not all((folder / name).is_file() for name in REQUIRED_ASSETS):
        # A different layout in a future release: better the fallback page than 404s.
        log.warning("%s is installed but lacks the docs assets in %s", ASSETS_DISTRIBUTION, folder)
        return None
    return folder


def inline_script_hashes(page: str) -> list[str]:
    """CSP source expressions (``'sha256-…'``) of the inline ``<script>`` blocks of ``page``."""
    hashes = []
    for body in _INLINE_SCRIPT.findall(page):
        digest = hashlib.sha256(body.encode("utf-8")).digest()
        hashes.append(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
    return hashes


def _security_headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def docs_security_headers(page: str) -> dict[str, str]:
    """Headers for a docs page: its own CSP that allows exactly its inline scripts."""
    script_src = "".join(f" {item}" for item in inline_script_hashes(page))
    return _security_headers(_DOCS_CSP.format(script_src=script_src))


def fallback_page(title: str, openapi_url: str) -> str:
    """A plain page for when the Swagger UI files are not installed: link the spec, say what to do."""
    title = html.escape(title)
    openapi_url = html.escape(openapi_url, quote=True)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API docs</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5}}</style>
</head><body>
<h1>{title} API docs</h1>
<p>The interactive docs page is not available because the Swagger UI files are not installed.</p>
<p>The OpenAPI description of this service is at <a href="{openapi_url}">{openapi_url}</a>.</p>
<p>To get the interactive page (it works offline), install the package and restart the server:</p>
<pre>pip install {ASSETS_DISTRIBUTION}</pre>
</body></html>
"""


def _root(request: Request) -> str:
    # Behind a reverse proxy with a path prefix, every URL on the page needs that prefix.
    return str(request.scope.get("root_path", "")).rstrip("/")


def _swagger_page(title: str, pages: DocsPages, root: str) -> str:
    assets = f"{root}{pages.assets_url}"
    response = get_swagger_ui_html(
        openapi_url=f"{root}{pages.openapi_url}",
        title=f"{title} - Swagger UI",
        swagger_js_url=f"{assets}/{SWAGGER_JS}",
        swagger_css_url=f"{assets}/{SWAGGER_CSS}",
        swagger_favicon_url=f"{assets}/{FAVICON}",
        oauth2_redirect_url=None,  # the service has no OAuth2 login
    )
    return bytes(response.body).decode("utf-8")


def _docs_route(app: FastAPI, pages: DocsPages, offline: bool) -> None:
    @app.get(pages.docs_url, include_in_schema=False)
    async def docs_page(request: Request) -> HTMLResponse:
        root = _root(request)
        if not offline:
            page = fallback_page(app.title, f"{root}{pages.openapi_url}")
            return HTMLResponse(page, headers=_security_headers(_FALLBACK_CSP))
        page = _swagger_page(app.title, pages, root)
        return HTMLResponse(page, headers=docs_security_headers(page))

    @app.get(pages.redoc_url, include_in_schema=False)
    async def redoc_page(request: Request) -> RedirectResponse:
        # Old bookmarks of FastAPI's default /redoc land on the offline page.
        return RedirectResponse(f"{_root(request)}{pages.docs_url}")


def mount_docs(app: FastAPI) -> bool:
    """Serve ``/docs`` from local files; True when the interactive page is available, False for the
    plain fallback page (or no page at all when the app has no OpenAPI URL).

    ``app`` must be created with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages).
    """
    if app.openapi_url is None:
        return False
    folder = find_docs_assets()
    pages = DocsPages(openapi_url=app.openapi_url)
    if folder is not None:
        app.mount(pages.assets_url, StaticFiles(directory=folder), name="docs-assets")
    else:
        log.info("no Swagger UI files (pip install %s): /docs shows a plain page", ASSETS_DISTRIBUTION)
    _docs_route(app, pages, offline=folder is not None)
    return folder is not None
