"""The web UI: the built single-page app (web/, `make web`) served at every path that is not
the API's.

It is the router's fallback (Starlette's `Router.default`), not a route: it answers only what no
route matched, so routers added later need no care about order. GET and HEAD of any path
outside RESERVED get a file of the bundle when one has that name and index.html otherwise (the
app routes in the browser and shows its own not-found page); everything else (unknown /api/
paths, other methods) keeps the JSON 404.

Caching: files under /assets/ carry a content hash in their names and are cached for a year;
index.html is revalidated on every load, so a new bundle is picked up at once.

Content-Security-Policy: scripts and styles come from 'self' only, with nothing inline, except
the style sheets CodeMirror creates at run time (it builds its themes in the browser). Those
carry a nonce, new for every response of index.html (EditorView.cspNonce in the app, which
reads it from the page; Vite's `html.cspNonce` writes the placeholder NONCE_PLACEHOLDER).
"""

from __future__ import annotations

import gzip
import secrets
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.gateway.ui")

RESERVED = ("/api/", "/docs", "/openapi.json", "/health", "/ready", "/metrics")
NONCE_PLACEHOLDER = b"VOIDRUNNER_CSP_NONCE"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = frozenset({".js", ".css", ".svg", ".json", ".txt", ".map"})
MIN_COMPRESS = 1024


def page_csp(nonce: str) -> str:
    """The policy of the app's pages."""
    return (
        "default-src 'self'; script-src 'self'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self'; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


@lru_cache(maxsize=256)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    """The file's content gzipped, computed once per version of the file."""
    del mtime_ns  # part of the cache key only
    return gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)


class WebUI:
    """The fallback ASGI app that serves the bundle in `root` (see the module docstring)."""

    def __init__(self, root: Path, not_found: ASGIApp) -> None:
        self.root = root.resolve()
        self.not_found = not_found
        index = self.root / "index.html"
        self.index: bytes | None = index.read_bytes() if index.is_file() else None
        if self.index is None:
            _log.warning("the web UI is not built; serving the API only", web_dir=str(root))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            self.index is None
            or scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or path == "/api"
            or path.startswith(RESERVED)
        ):
            await self.not_found(scope, receive, send)
            return
        request = Request(scope, receive)
        file = self._file(path)
        if file is not None:
            response = self._file_response(file, request)
        elif path.startswith("/assets/"):
            # A missing script or style is an error to show, not the app's HTML in its place.
            await self.not_found(scope, receive, send)
            return
        else:
            response = self._page()
        await response(scope, receive, send)

    def _file(self, path: str) -> Path | None:
        """The bundle's file at `path`, never anything outside the bundle (nor index.html)."""
        relative = path.lstrip("/")
        if not relative or relative == "index.html":
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _file_response(self, file: Path, request: Request) -> Response:
        cache = IMMUTABLE if file.parent.name == "assets" else REVALIDATE
        stat = file.stat()
        accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
        if accepts_gzip and file.suffix in COMPRESSIBLE and stat.st_size >= MIN_COMPRESS:
            media_type = FileResponse(file).media_type
            return Response(
                _gzipped(file, stat.st_mtime_ns),
                media_type=media_type,
                headers={
                    "Cache-Control": cache,
                    "Content-Encoding": "gzip",
                    "Vary": "Accept-Encoding",
                },
            )
        return FileResponse(file, headers={"Cache-Control": cache, "Vary": "Accept-Encoding"})

    def _page(self) -> Response:
        assert self.index is not None
        nonce = secrets.token_urlsafe(18)
        return Response(
            self.index.replace(NONCE_PLACEHOLDER, nonce.encode()),
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": REVALIDATE, "Content-Security-Policy": page_csp(nonce)},
        )
