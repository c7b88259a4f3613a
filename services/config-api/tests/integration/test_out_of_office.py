"""Out-of-office (A12) through the API on both databases: PUT and GET
/mail-accounts/{id}/out-of-office, the A12 switch (403), who may (a user key for its own and its
groups' accounts, 404 otherwise), the defaults, and validation naming the field and the rule."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from config_api_testing import Api, outbox_world, rules
from mailbridge.common.db.out_of_office import OutOfOffice
from sqlalchemy import select

VALID = {"enabled": True, "subject": "Out of office", "body": "Back on Monday.\n"}
UNKNOWN = "01a21a80-4577-7c31-aec5-77c42ab161e2"


async def put(api: Api, account_id: str, body: Any) -> httpx.Response:
    return await api.client.put(
        f"/mail-accounts/{account_id}/out-of-office",
        json=body,
        headers={"Authorization": f"Bearer {api.key}"},
    )


async def get(api: Api, account_id: str) -> httpx.Response:
    return await api.get(f"/mail-accounts/{account_id}/out-of-office")


async def allowed_world(api: Api) -> dict[str, Any]:
    """outbox_world with A12 switched on for every account."""
    world = await outbox_world(api)
    for name in ("mine", "shared", "bobs"):
        response = await api.patch(f"/mail-accounts/{world[name]['id']}", {"can_set_out_of_office": True})
        assert response.status_code == 200, response.text
    return world


async def test_a12_never_set_reads_as_the_documented_defaults(api: Api) -> None:
    world = await outbox_world(api)
    response = await get(world["ann"], world["mine"]["id"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "account_id": world["mine"]["id"], "enabled": False, "subject": "Out of office", "body": "",
        "starts_at": None, "ends_at": None, "reply_interval_days": 7, "active": False, "may_set": False,
        "updated_at": None,
    }  # fmt: skip


async def test_a12_put_then_get_returns_what_was_set_and_stores_it(api: Api) -> None:
    world = await allowed_world(api)
    starts = datetime.now(UTC) - timedelta(hours=1)
    body = VALID | {
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(days=14)).isoformat(),
        "reply_interval_days": 3,
    }  # fmt: skip
    response = await put(world["ann"], world["mine"]["id"], body)
    assert response.status_code == 200, response.text
    shown = (await get(world["ann"], world["mine"]["id"])).json()
    assert shown == response.json()
    assert shown["active"] is True
    assert shown["reply_interval_days"] == 3
    assert datetime.fromisoformat(shown["starts_at"]) == starts
    async with api.running.sessions() as session:
        (row,) = await session.scalars(select(OutOfOffice))
    assert (row.enabled, row.subject, row.body, row.reply_interval_days) == (
        True,
        "Out of office",
        "Back on Monday.\n",
        3,
    )
    switched_off = await put(world["ann"], world["mine"]["id"], VALID | {"enabled": False})
    assert switched_off.json()["active"] is False
    assert switched_off.json()["reply_interval_days"] == 7  # PUT replaces the whole: the default again


async def test_a12_a_period_in_the_future_is_enabled_but_not_active(api: Api) -> None:
    world = await allowed_world(api)
    later = datetime.now(UTC) + timedelta(days=2)
    response = await put(world["ann"], world["mine"]["id"], VALID | {"starts_at": later.isoformat()})
    assert response.json()["enabled"] is True
    assert response.json()["active"] is False


async def test_a12_forbidden_while_the_account_may_not_set_it_even_for_admins(api: Api) -> None:
    world = await outbox_world(api)
    for caller in (world["ann"], api):
        response = await put(caller, world["mine"]["id"], VALID)
        assert response.status_code == 403, response.text
        assert "A12" in response.json()["detail"]
    async with api.running.sessions() as session:
        assert list(await session.scalars(select(OutOfOffice))) == []


async def test_a12_a_user_key_for_its_own_and_its_groups_accounts_only(api: Api) -> None:
    world = await allowed_world(api)
    assert (await put(world["ann"], world["shared"]["id"], VALID)).status_code == 200
    assert (await get(world["bob"], world["shared"]["id"])).json()["enabled"] is True  # Sales, like Ann
    assert (await put(world["ann"], world["bobs"]["id"], VALID)).status_code == 404
    assert (await get(world["ann"], world["bobs"]["id"])).status_code == 404
    assert (await put(api, world["bobs"]["id"], VALID)).status_code == 200  # an admin may, A12 on


async def test_a12_an_unknown_account_is_404(api: Api) -> None:
    assert (await put(api, UNKNOWN, VALID)).status_code == 404
    assert (await get(api, UNKNOWN)).status_code == 404


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ends_at": "2026-07-01T00:00:00Z", "starts_at": "2026-07-02T00:00:00Z"}, {"ends_at": "A12"}),
        ({"ends_at": "2026-07-01T00:00:00Z", "starts_at": "2026-07-01T00:00:00Z"}, {"ends_at": "A12"}),
        ({"reply_interval_days": 0}, {"reply_interval_days": "A12"}),
        ({"reply_interval_days": 366}, {"reply_interval_days": "A12"}),
        ({"subject": ""}, {"subject": "A12"}),
        ({"subject": "   "}, {"subject": "A12"}),
        ({"subject": "x" * 201}, {"subject": "A12"}),
        ({"subject": "Away\r\nBcc: everyone@example.net"}, {"subject": "control_character"}),
        ({"subject": "Away\t"}, {"subject": "control_character"}),
        ({"body": "x" * 10_001}, {"body": "A12"}),
        ({"body": "  \n"}, {"body": "A12"}),  # enabled needs a body
        ({"starts_at": "2026-07-01T00:00:00"}, {"starts_at": "timezone_aware"}),
        ({"starts_at": "0001-01-01T00:00:00+05:00"}, {"starts_at": "A12"}),
        ({"ends_at": "9999-12-31T23:00:00-05:00"}, {"ends_at": "A12"}),
        ({"body": "a\x00b"}, {"body": "nul_character"}),
        ({"extra": 1}, {"extra": "extra_forbidden"}),
    ],
)
async def test_a12_invalid_settings_name_the_field_and_the_rule(
    api: Api, change: dict[str, Any], expected: dict[str, str]
) -> None:
    world = await allowed_world(api)
    assert rules(await put(api, world["mine"]["id"], VALID | change)) == expected


async def test_a12_required_fields_and_a_disabled_one_without_a_body(api: Api) -> None:
    world = await allowed_world(api)
    assert rules(await put(api, world["mine"]["id"], {"enabled": True})) == {
        "subject": "missing",
        "body": "missing",
    }
    response = await put(api, world["mine"]["id"], {"enabled": False, "subject": "Out of office", "body": ""})
    assert response.status_code == 200, response.text  # the defaults GET shows can be PUT back
