"""Offline OpenAPI docs: /docs loads only local assets, under a CSP that lets them run."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.serving.conftest import CHROMIUM, CHROMIUM_ARGS, running_server
from voxemo.serving import docs

ASSET_URL = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)\"""")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

needs_assets = pytest.mark.skipif(
    docs.find_docs_assets() is None, reason=f"needs the {docs.ASSETS_DISTRIBUTION} package"
)


def asset_urls(page: str) -> list[str]:
    """URLs the page loads: every <script src> and <link href>."""
    return ASSET_URL.findall(page)


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@needs_assets
def test_docs_page_loads_only_local_assets(client):
    response = client.get(docs.DOCS_URL)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    urls = asset_urls(page)
    assert len(urls) == 3  # the script bundle, the stylesheet and the favicon
    assert all(u.startswith(docs.ASSETS_URL + "/") for u in urls), urls
    # No absolute URL anywhere on the page (the spec link is relative too).
    assert "http://" not in page and "https://" not in page
    assert "/openapi.json" in page
    for asset in urls:
        asset_response = client.get(asset)
        assert asset_response.status_code == 200, asset
        assert asset_response.headers["content-type"].startswith(CONTENT_TYPES[Path(asset).suffix]), asset
        assert len(asset_response.content) > 500, asset


@needs_assets
def test_swagger_ui_bundle_is_version_5(client):
    # Swagger UI 4 cannot render the OpenAPI 3.1 document FastAPI writes.
    bundle = client.get(f"{docs.ASSETS_URL}/{docs.SWAGGER_JS}").text
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', bundle)
    assert version is not None and int(version.group(1)) >= 5
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


@needs_assets
def test_docs_csp_allows_exactly_the_inline_init_script(client):
    response = client.get(docs.DOCS_URL)
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(inline) == 1 and "SwaggerUIBundle(" in inline[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    policy = csp_directives(response.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_openapi_lists_the_endpoints(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/timeline", "/v1/health", "/v1/model"} <= set(schema["paths"])
    assert "post" in schema["paths"]["/v1/predict"]
    assert not any(path.startswith("/docs") for path in schema["paths"])


@needs_assets
def test_asset_urls_follow_the_root_path():
    app = FastAPI(docs_url=None, redoc_url=None)
    assert docs.mount_docs(app) is True
    with TestClient(app, root_path="/voxemo") as behind_proxy:
        page = behind_proxy.get(docs.DOCS_URL).text
    assert all(u.startswith("/voxemo" + docs.ASSETS_URL + "/") for u in asset_urls(page))
    assert "'/voxemo/openapi.json'" in page


def test_without_the_assets_package_docs_is_a_plain_page_with_the_spec_link(monkeypatch):
    monkeypatch.setattr(docs, "ASSETS_PACKAGE", "no_such_package_for_voxemo_docs")
    app = FastAPI(title="voxemo", docs_url=None, redoc_url=None)
    assert docs.mount_docs(app) is False
    with TestClient(app) as plain:
        response = plain.get(docs.DOCS_URL)
        assert response.status_code == 200
        assert '<a href="/openapi.json">' in response.text
        assert f"pip install {docs.ASSETS_DISTRIBUTION}" in response.text
        assert "<script" not in response.text
        assert "script-src" not in response.headers["content-security-policy"]
        assert plain.get(f"{docs.ASSETS_URL}/{docs.SWAGGER_JS}").status_code == 404


def test_redoc_redirects_to_the_offline_docs(client):
    response = client.get(docs.REDOC_URL, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == docs.DOCS_URL


def test_mount_docs_does_nothing_without_an_openapi_url():
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    assert docs.mount_docs(app) is False
    with TestClient(app) as no_spec:
        assert no_spec.get(docs.DOCS_URL).status_code == 404


# --- in a real browser, with everything off the machine blocked -------------------------------

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium: run scripts/install_browser.sh"
)


def render_offline(base_url: str, path: str, ready_selector: str) -> tuple[str, list[str], list[str]]:
    """Open ``path`` in headless Chromium; -> (page text, requests that left the server, errors)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    blocked: list[str] = []
    errors: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(base_url + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_local)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            page.goto(base_url + path)
            page.wait_for_selector(ready_selector, timeout=20_000)
            text = page.inner_text("body")
        finally:
            browser.close()
    return text, blocked, errors


@needs_assets
@needs_chromium
def test_docs_render_the_operations_in_chromium_offline(make_app):
    with running_server(make_app()) as base_url:
        text, blocked, errors = render_offline(base_url, docs.DOCS_URL, ".opblock-summary-path")
    assert blocked == []
    assert errors == []
    for operation in ("/v1/predict", "/v1/timeline", "/v1/health", "/v1/model"):
        assert operation in text
