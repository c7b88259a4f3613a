"""/docs (Swagger UI), /redoc, /asyncapi and /asyncapi.json, with every asset from /docs-assets."""

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from mailbridge.config_api.api_docs.event_api import TITLE, asyncapi_document
from mailbridge.config_api.openapi import amend_openapi

ASSETS = Path(__file__).parent / "assets"
ASSETS_URL = "/docs-assets"
SWAGGER = f"{ASSETS_URL}/swagger-ui"
REDOC = f"{ASSETS_URL}/redoc"
ASYNCAPI_VIEWER = f"{ASSETS_URL}/asyncapi-react"
DESCRIPTION = (
    'Every call under /api/v1 takes an API key: `Authorization: Bearer mbk_…` ("Authorize" '
    "above; `make run` prints the admin key once and keeps it in ./var/admin-api-key). Errors are "
    "RFC 9457 problem details. The same document as [ReDoc](/redoc); the events Mailbridge publishes "
    "on NATS, each versioned and with its example: [AsyncAPI](/asyncapi) ([JSON](/asyncapi.json))."
)
# Swagger UI would ask validator.swagger.io to judge the document (a badge image): not offline.
SWAGGER_PARAMETERS = {"validatorUrl": None, "persistAuthorization": True}


def install_api_docs(app: FastAPI) -> None:
    """Replaces FastAPI's own /docs and /redoc (create the app with docs_url=None, redoc_url=None):
    theirs load from a CDN and are blank offline."""
    assert app.docs_url is None, "the app would serve FastAPI's CDN page too"
    assert app.redoc_url is None, "the app would serve FastAPI's CDN page too"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    amend_openapi(app, lambda document: document["info"].setdefault("description", DESCRIPTION))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} – Swagger UI",
            swagger_js_url=f"{root}{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER}/favicon-32x32.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} – ReDoc",
            redoc_js_url=f"{root}{REDOC}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{SWAGGER}/favicon-32x32.png",
            with_google_fonts=False,
        )

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> JSONResponse:
        """The event API (#18): every command and event on NATS, versioned, with its example."""
        return JSONResponse(asyncapi_document())

    @app.get("/asyncapi", include_in_schema=False)
    async def asyncapi_viewer(request: Request) -> HTMLResponse:
        return HTMLResponse(asyncapi_html(request.scope.get("root_path", "")))


def asyncapi_html(root: str = "") -> str:
    """The AsyncAPI React component's standalone viewer with the document inlined. FastStream's
    own page (get_asyncapi_html) loads the component and its icons from CDNs."""
    config = {
        "show": {"sidebar": True, "info": True, "servers": True, "operations": True, "messages": True,
                 "schemas": True, "errors": True},
        "expand": {"messageExamples": True},
        "sidebar": {"showServers": "byDefault", "showOperations": "byDefault"},
    }  # fmt: skip
    # Inside <script>, "</" could close the element early: JSON allows escaping the slash.
    props = json.dumps({"schema": asyncapi_document(), "config": config}).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{TITLE} – AsyncAPI</title>
<link rel="icon" type="image/png" href="{root}{SWAGGER}/favicon-32x32.png">
<link rel="stylesheet" href="{root}{ASYNCAPI_VIEWER}/default.min.css">
</head>
<body>
<div id="asyncapi"></div>
<script src="{root}{ASYNCAPI_VIEWER}/index.js"></script>
<script>
window.AsyncApiStandalone.render({props}, document.getElementById("asyncapi"));
</script>
</body>
</html>
"""
