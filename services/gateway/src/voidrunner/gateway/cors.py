"""CORS from the settings, with preflight rejections in the contract's JSON error body."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, whose refused preflights answer JSON instead of plain text.

    Starlette names what it refused in the text "Disallowed CORS origin, method"; that becomes
    `{"error": "CORS preflight rejected", "details": "origin, method not allowed"}`, with the
    same status and headers.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        """The preflight answer; a refusal rewritten as a JSON error body."""
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        body = json.dumps(
            {"error": "CORS preflight rejected", "details": f"{refused} not allowed"}
        ).encode()
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        return Response(
            body,
            status_code=response.status_code,
            headers=headers,
            media_type="application/json; charset=utf-8",
        )
