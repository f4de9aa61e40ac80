"""/docs without a browser (issue 12, item 11): Swagger UI is served by the gateway itself,
the page loads nothing from elsewhere and runs no inline script, under a CSP that allows
scripts from 'self' only."""

from __future__ import annotations

import re

import httpx


def document_version(bundle: bytes) -> tuple[int, int]:
    """The newest OpenAPI version a Swagger UI bundle knows (it has an isOAS3x per version)."""
    minors = [int(m) for m in re.findall(rb"isOAS3(\d)\(", bundle)]
    return (3, max(minors, default=0))


async def test_docs_are_served_by_the_gateway_alone(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    csp = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert csp["script-src"] == "'self'"
    assert "http" not in page.headers["content-security-policy"]
    assert "unsafe" not in page.headers["content-security-policy"]
    assert "//" not in page.text  # no absolute or protocol-relative URL: nothing from elsewhere
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert len(scripts) == 2
    assert all("src=" in attrs and not body.strip() for attrs, body in scripts)  # none inline
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == [
        "docs/favicon.png",
        "docs/swagger-init.js",
        "docs/swagger-ui-bundle.js",
        "docs/swagger-ui.css",
    ]
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for asset in assets:
        resp = await client.get(f"/{asset}")
        assert resp.status_code == 200, asset
        assert resp.headers["content-type"].startswith(kinds[asset[asset.rindex(".") :]]), asset
    bundle = await client.get("/docs/swagger-ui-bundle.js")
    assert len(bundle.content) > 500_000
    assert b"SwaggerUIBundle" in bundle.content
    # Swagger UI 4 refuses OpenAPI 3.1 documents (FastAPI writes 3.1): this one must read them.
    assert document_version(bundle.content) >= (3, 1)
    init = (await client.get("/docs/swagger-init.js")).text
    assert 'url: "openapi.json"' in init
