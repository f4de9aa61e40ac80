"""GET /docs: Swagger UI served entirely by the gateway, so it works without internet access.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script; this one
takes Swagger UI's files from the `fastapi-offline` package and starts it from
static/swagger-init.js, so the page's Content-Security-Policy (middleware.CSP_DOCS) allows
scripts from 'self' alone. Every URL in the page is relative to it (see swagger-init.js).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

SWAGGER_UI = Path(str(resources.files("fastapi_offline") / "static"))
OWN_STATIC = Path(__file__).parent / "static"
JS = "text/javascript; charset=utf-8"
# name under /docs/ → (file, content type)
ASSETS = {
    "swagger-ui-bundle.js": (SWAGGER_UI / "swagger-ui-bundle.js", JS),
    "swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", "text/css; charset=utf-8"),
    "favicon.png": (SWAGGER_UI / "favicon.png", "image/png"),
    "swagger-init.js": (OWN_STATIC / "swagger-init.js", JS),
}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>VoidRunner API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/swagger-init.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def docs_page() -> HTMLResponse:
    """The Swagger UI page."""
    return HTMLResponse(PAGE)


def _asset_route(name: str, path: Path, media_type: str) -> None:
    async def asset() -> FileResponse:
        return FileResponse(path, media_type=media_type)

    router.add_api_route(f"/docs/{name}", asset, methods=["GET"], name=f"docs:{name}")


for _name, (_path, _media_type) in ASSETS.items():
    _asset_route(_name, _path, _media_type)
