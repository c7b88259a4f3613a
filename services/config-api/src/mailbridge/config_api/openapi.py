"""The OpenAPI document's additions: request bodies a route reads itself (one operation, several
media types) and the API key's security scheme."""

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"
BEARER_SCHEME = "apiKey"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def amend_openapi(app: FastAPI, amend: Callable[[dict[str, Any]], None]) -> None:
    """`amend` changes the generated document once, before it is first served (and cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            amend(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def include_models(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Such routes declare their bodies through `openapi_extra`, so FastAPI never sees the
    models; their schemas (and those they refer to) join the document's components here."""

    def amend(document: dict[str, Any]) -> None:
        _, definitions = models_json_schema(
            [(model, "validation") for model in models], ref_template=REF_TEMPLATE
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in definitions.get("$defs", {}).items():
            components.setdefault(name, schema)

    amend_openapi(app, amend)


def declare_bearer_auth(app: FastAPI, api_prefix: str) -> None:
    """The API key as Swagger UI's "Authorize": one HTTP bearer scheme, required by every
    operation under `api_prefix` (the request guard checks it there, guard.py)."""

    def amend(document: dict[str, Any]) -> None:
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[BEARER_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mbk_<key id>_<secret>",
            "description": "An API key: `Authorization: Bearer mbk_…`. `make run` prints the admin "
            "key once and keeps it in ./var/admin-api-key; `mailbridge api-key create` makes more.",
        }
        for path, operations in document.get("paths", {}).items():
            if path == api_prefix or path.startswith(api_prefix + "/"):
                for method, operation in operations.items():
                    if method in HTTP_METHODS:
                        operation.setdefault("security", [{BEARER_SCHEME: []}])
                        _drop_authorization_header(operation)

    amend_openapi(app, amend)


def _drop_authorization_header(operation: dict[str, Any]) -> None:
    """deps.py declares `Authorization` as a header parameter so that the key shows in the
    document; with the scheme it would be asked for twice (Swagger UI ignores such a parameter)."""
    parameters = [
        parameter
        for parameter in operation.get("parameters", [])
        if not (parameter.get("in") == "header" and parameter.get("name", "").lower() == "authorization")
    ]
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)
