"""#16 "the API as a newcomer meets it" and #18 "documented event API": the documentation pages
load everything from config-api itself (they work offline), the OpenAPI document declares the API
key's bearer scheme once and has a valid example for every request body, and the AsyncAPI
document lists every event of mailbridge.common.events with its subject, schema and example."""

import re
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
from fastapi import FastAPI
from mailbridge.common.events import ALL_MESSAGES
from mailbridge.common.secrets import generate_key
from mailbridge.config_api.api_docs.event_api import asyncapi_document, channel_name, message_of
from mailbridge.config_api.main import API_PREFIX, create_app
from mailbridge.config_api.openapi import BEARER_SCHEME
from mailbridge.config_api.schemas import RequestModel
from mailbridge.config_api.settings import ConfigApiSettings
from pydantic import BaseModel

PAGES = ("/docs", "/redoc", "/asyncapi")
EXTERNAL = re.compile(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}""", re.IGNORECASE)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app as `mailbridge serve` builds it; the pages need neither database nor NATS."""
    settings = ConfigApiSettings(
        nats_url="nats://127.0.0.1:4222", secret_key=generate_key(), var_dir=tmp_path_factory.mktemp("var")
    )
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mailbridge") as c:
        yield c


class _References(HTMLParser):
    """Every URL a page makes the browser load: scripts, stylesheets, icons, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", PAGES)
async def test_a_docs_page_loads_every_asset_from_config_api(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    html = response.text
    urls = references(html)
    assert any(url.endswith(".js") for url in urls), urls
    assert EXTERNAL.findall(html) == [], "no address outside config-api, not even in inline scripts"
    for url in urls:
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


async def test_the_vendored_assets_are_listed_with_their_version_and_licence(
    client: httpx.AsyncClient,
) -> None:
    notice = Path(__file__).parents[2] / "src/mailbridge/config_api/api_docs/assets/NOTICE.md"
    text = notice.read_text()
    for folder in ("swagger-ui", "redoc", "asyncapi-react"):
        assert f"`{folder}/`" in text
        assert (notice.parent / folder / "LICENSE").is_file()
    assert (await client.get("/docs-assets/redoc/LICENSE")).status_code == 200


async def test_the_openapi_document_is_served_beside_the_docs(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    assert (await client.get("/openapi.json")).json() == app.openapi()
    description = app.openapi()["info"]["description"]
    assert "(/asyncapi)" in description, "the API's description leads to the event API"
    assert "(/redoc)" in description


def test_the_bearer_scheme_is_declared_once_and_every_api_operation_requires_it(app: FastAPI) -> None:
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes == {BEARER_SCHEME: schemes[BEARER_SCHEME]}
    assert schemes[BEARER_SCHEME]["type"] == "http"
    assert schemes[BEARER_SCHEME]["scheme"] == "bearer"
    api_operations = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith(API_PREFIX + "/"):
                api_operations += 1
                assert operation.get("security") == [{BEARER_SCHEME: []}], (method, path)
                headers = [p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"]
                assert "authorization" not in headers, "the key is asked for once, by the scheme"
            else:
                assert "security" not in operation, (method, path)  # /healthz, /oauth/callback …
    assert api_operations >= 30


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def _request_bodies(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                yield f"{method.upper()} {path} ({media_type})", media_type, content


def _examples(document: dict[str, Any], content: dict[str, Any]) -> list[Any]:
    found = [content["example"]] if "example" in content else []
    found += [entry["value"] for entry in content.get("examples", {}).values()]
    return found + list(_resolve(document, content["schema"]).get("examples", []))


def test_every_request_body_has_an_example_that_its_schema_accepts(app: FastAPI) -> None:
    document = app.openapi()
    bodies = list(_request_bodies(document))
    assert len(bodies) >= 15
    missing = [name for name, _, content in bodies if not _examples(document, content)]
    assert missing == [], "request bodies without an example"
    for name, _, content in bodies:
        # $refs resolve against the document's root: the schema travels with its components.
        schema = {**content["schema"], "components": document["components"]}
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        for example in _examples(document, content):
            errors = [error.message for error in validator.iter_errors(example)]
            assert errors == [], f"{name}: {errors}"


def _subclasses(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for subclass in model.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def test_every_request_example_passes_the_api_s_own_validation(app: FastAPI) -> None:
    """Beyond the schema: the models' own rules (host:port, address syntax, ranges …). The routes
    validate some bodies themselves, so the models are found by their schemas' names."""
    document = app.openapi()
    names = {
        content["schema"]["$ref"].removeprefix("#/components/schemas/")
        for _, _, content in _request_bodies(document)
        if "$ref" in content["schema"]
    }
    models = {model.__name__: model for model in _subclasses(RequestModel) if model.__name__ in names}
    assert set(models) == names
    for model in models.values():
        for example in model.model_json_schema()["examples"]:
            model.model_validate(example)


def test_the_asyncapi_document_lists_every_event_with_subject_schema_and_example() -> None:
    document = asyncapi_document()
    assert document["asyncapi"].startswith("3.")
    assert len(document["channels"]) == len(ALL_MESSAGES)
    for model in ALL_MESSAGES:
        channel = document["channels"][channel_name(model)]
        assert channel["address"] == model.subject
        assert re.search(r"\.v\d+$", model.subject), "versioned"
        message = message_of(document, model)
        schema = _resolve(document, message["payload"])
        assert set(schema["properties"]) == set(model.model_fields), model.__name__
        (example,) = message["examples"]
        validator = jsonschema.Draft202012Validator(
            {**message["payload"], "components": document["components"]},
            format_checker=jsonschema.FormatChecker(),
        )
        assert [error.message for error in validator.iter_errors(example["payload"])] == []
        assert model.model_validate(example["payload"]).model_dump(mode="json") == example["payload"]


async def test_the_asyncapi_document_and_its_viewer_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/asyncapi.json")).json() == asyncapi_document()
    viewer = (await client.get("/asyncapi")).text
    assert "AsyncApiStandalone.render" in viewer
    assert "mailbridge.mail.fetched.v1" in viewer
