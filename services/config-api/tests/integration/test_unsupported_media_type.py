"""#16: a JSON body sent as another media type, or without a Content-Type, is a 415 problem that
says what to send, not a puzzling 422."""

import json

import pytest
from config_api_testing import Api

BODY = json.dumps({"name": "Sales"}).encode()


async def _post(api: Api, content_type: str | None) -> tuple[int, dict[str, object], str]:
    headers = {"Authorization": f"Bearer {api.key}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await api.client.post("/business-units", content=BODY, headers=headers)
    return response.status_code, response.json(), response.headers["content-type"]


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        (None, "sent without a Content-Type"),
        ("text/plain", "sent as 'text/plain'"),
        ("application/x-www-form-urlencoded", "sent as 'application/x-www-form-urlencoded'"),
    ],
)
async def test_a_body_not_sent_as_json_is_415_with_a_hint(
    api: Api, content_type: str | None, named: str
) -> None:
    status, problem, media_type = await _post(api, content_type)
    assert status == 415
    assert media_type == "application/problem+json"
    assert problem["title"] == "Unsupported media type"
    assert problem["status"] == 415
    detail = str(problem["detail"])
    assert named in detail
    assert "Content-Type: application/json" in detail
    assert (await api.get("/business-units")).json()["items"] == [], "nothing was created"


async def test_the_same_body_as_json_is_created(api: Api) -> None:
    status, created, _ = await _post(api, "application/json; charset=utf-8")
    assert status == 201
    assert created["name"] == "Sales"


async def test_json_that_is_not_an_object_stays_a_422(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"}
    response = await api.client.post("/business-units", content=b"[1, 2]", headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
