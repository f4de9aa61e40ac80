"""The gateway serving a web UI bundle (a small stand-in for web/dist): the app at every path
that is not the API's, hashed assets cached for good, index.html revalidated and given a fresh
CSP nonce per response, and nothing outside the bundle reachable."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from voidrunner.gateway.ui import NONCE_PLACEHOLDER

PAGE = (
    b'<!doctype html><html><head><meta property="csp-nonce" nonce="VOIDRUNNER_CSP_NONCE">'
    b'<script type="module" src="/assets/app-1a2b3c.js" nonce="VOIDRUNNER_CSP_NONCE"></script>'
    b'</head><body><div id="app"></div></body></html>'
)
SCRIPT = b"console.log('voidrunner');\n" * 200


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "secret.txt").write_text("outside the bundle")
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_bytes(PAGE)
    (dist / "assets" / "app-1a2b3c.js").write_bytes(SCRIPT)
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return dist


@pytest.fixture
def gateway_settings_overrides(bundle: Path) -> dict[str, Any]:
    return {"web_dir": bundle}


def _nonce(resp: httpx.Response) -> str:
    found = re.search(
        r"style-src 'self' 'nonce-([A-Za-z0-9_-]+)'", resp.headers["content-security-policy"]
    )
    assert found, resp.headers["content-security-policy"]
    return found.group(1)


@pytest.mark.parametrize(
    "path", ["/", "/tasks", "/executions/c4a1e2f3-7b6d-4e5f-8a9b-0c1d2e3f4a5b"]
)
async def test_app_paths_serve_the_page_with_a_fresh_nonce(
    client: httpx.AsyncClient, path: str
) -> None:
    first = await client.get(path)
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/html; charset=utf-8"
    assert first.headers["cache-control"] == "no-cache"
    csp = first.headers["content-security-policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "script-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert len(first.headers.get_list("content-security-policy")) == 1
    assert first.headers["x-frame-options"] == "DENY"
    nonce = _nonce(first)
    assert NONCE_PLACEHOLDER not in first.content
    assert first.text.count(f'nonce="{nonce}"') == 2
    assert _nonce(await client.get(path)) != nonce


async def test_hashed_assets_are_cached_for_good_and_gzipped(client: httpx.AsyncClient) -> None:
    plain = await client.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.content == SCRIPT
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in plain.headers["content-type"]
    raw = await client.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in raw.headers["vary"]
    assert raw.content == SCRIPT  # httpx decoded it
    assert int(raw.headers["content-length"]) < len(gzip.compress(SCRIPT)) + 64
    icon = await client.get("/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api", "/api/", "/metrics", "/docs/nope", "/assets/missing.js"]
)
async def test_api_and_reserved_paths_stay_json_404(client: httpx.AsyncClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.status_code == 404
    assert resp.json() == {"error": "Not found"}
    assert "nonce" not in resp.headers["content-security-policy"]


async def test_other_methods_and_the_api_are_untouched(client: httpx.AsyncClient) -> None:
    assert (await client.post("/tasks", json={})).status_code == 404
    assert (await client.get("/health")).json()["status"] == "ok"
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).headers["content-type"].startswith("text/html")
    assert (await client.get("/api/v1/ping")).json() == {"message": "pong"}


async def test_nothing_outside_the_bundle_is_served(client: httpx.AsyncClient) -> None:
    for raw in (b"/../secret.txt", b"/%2e%2e/secret.txt", b"/assets/../../secret.txt"):
        request = client.build_request("GET", "/")
        request.url = request.url.copy_with(raw_path=raw)
        resp = await client.send(request)
        assert b"outside the bundle" not in resp.content, raw
    index = await client.get("/index.html")
    assert _nonce(index)  # the page itself, never its unfilled template
