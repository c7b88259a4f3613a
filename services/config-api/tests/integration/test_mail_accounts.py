"""Mail accounts: A1 owners, A3 write-only password, A5/A6/A9 addresses, A7 alias, A11 folders."""

from typing import Any

import pytest
from config_api_testing import Api, account_body, imap_server_body, pop3_server_body, rules
from sqlalchemy import text


async def _world(api: Api) -> dict[str, Any]:
    return {
        "imap": await api.create("/mail-servers", imap_server_body()),
        "pop3": await api.create("/mail-servers", pop3_server_body()),
        "ann": await api.create("/users", {"name": "Ann", "email": "ann@example.com"}),
    }


async def test_a1_user_and_group_owners_with_several_accounts(api: Api) -> None:
    world = await _world(api)
    group = await api.create("/groups", {"name": "Sales", "member_ids": [world["ann"]["id"]]})
    server = world["imap"]["id"]
    for address in ("ann@example.com", "ann.private@example.com"):
        await api.create("/mail-accounts", account_body(server, "user", world["ann"]["id"], address))
    shared = await api.create(
        "/mail-accounts", account_body(server, "group", group["id"], "sales@example.com")
    )
    assert shared["owner"] == {"type": "group", "id": group["id"]}
    by_user = (await api.get(f"/users/{world['ann']['id']}/mail-accounts")).json()["items"]
    by_group = (await api.get(f"/groups/{group['id']}/mail-accounts")).json()["items"]
    assert sorted(a["address"] for a in by_user) == ["ann.private@example.com", "ann@example.com"]
    assert [a["id"] for a in by_group] == [shared["id"]]


async def test_a1_unknown_owner_and_server(api: Api) -> None:
    world = await _world(api)
    missing = "01a21a80-4577-7c31-aec5-77c42ab161e2"
    body = account_body(missing, "group", missing)
    assert rules(await api.post("/mail-accounts", body)) == {
        "owner.id": "reference",
        "server_id": "reference",
    }
    assert (await api.get(f"/users/{missing}/mail-accounts")).status_code == 404
    assert world["imap"]["id"]


async def test_a3_password_is_write_only_and_encrypted_at_rest(api: Api) -> None:
    world = await _world(api)
    password = "correct horse battery staple"
    body = account_body(world["imap"]["id"], "user", world["ann"]["id"], password=password)
    account = await api.create("/mail-accounts", body)
    assert account["has_password"] is True
    assert "password" not in account
    async with api.running.sessions() as session:
        dump = " ".join(str(v) for v in (await session.execute(text("SELECT * FROM mail_accounts"))).one())
    assert password not in dump
    patched = (await api.patch(f"/mail-accounts/{account['id']}", {"alias": "Ann"})).json()
    assert patched["has_password"] is True, "a patch without password keeps it"
    cleared = (await api.patch(f"/mail-accounts/{account['id']}", {"password": None})).json()
    assert cleared["has_password"] is False


async def test_a3_oauth_server_accounts_connect_instead_of_password(api: Api) -> None:
    world = await _world(api)
    provider = await api.create(
        "/oauth-providers",
        {"name": "M365", "server_type": "microsoft365_email", "use_default_settings": True},
    )
    server = await api.create("/mail-servers", imap_server_body("Exchange", oauth_provider_id=provider["id"]))
    body = account_body(server["id"], "user", world["ann"]["id"])
    assert rules(await api.post("/mail-accounts", body | {"password": "x"})) == {"password": "A3"}
    account = await api.create("/mail-accounts", body)
    assert account["oauth_status"] == "disconnected"
    plain = await api.create(
        "/mail-accounts",
        account_body(world["imap"]["id"], "user", world["ann"]["id"], "b@example.com"),
    )
    assert plain["oauth_status"] == "not_required"


@pytest.mark.parametrize(("field", "rule"), [("address", "A5"), ("reply_to", "A6"), ("send_bcc", "A9")])
@pytest.mark.parametrize("bad", ["not-an-address", "a@", "@example.com", "a b@example.com", "a@exa mple.com"])
async def test_malformed_addresses_name_field_and_rule(api: Api, field: str, rule: str, bad: str) -> None:
    world = await _world(api)
    body = account_body(world["imap"]["id"], "user", world["ann"]["id"]) | {field: bad}
    assert rules(await api.post("/mail-accounts", body)) == {field: rule}


async def test_a6_a7_a9_values_are_kept(api: Api) -> None:
    world = await _world(api)
    body = account_body(
        world["imap"]["id"], "user", world["ann"]["id"],
        reply_to="replies@example.com", alias="Ann from Sales", send_bcc="archive@example.com",
        can_send=False, can_receive=False, can_set_out_of_office=True,
    )  # fmt: skip
    account = await api.create("/mail-accounts", body)
    expected = {
        "reply_to": "replies@example.com", "alias": "Ann from Sales",
        "send_bcc": "archive@example.com", "can_send": False, "can_receive": False,
        "can_set_out_of_office": True,
    }  # fmt: skip
    assert {key: account[key] for key in expected} == expected


@pytest.mark.parametrize("alias", ["Evil\r\nBcc: victim@example.com", "tab\there", ""])
async def test_a7_alias_cannot_inject_headers(api: Api, alias: str) -> None:
    world = await _world(api)
    body = account_body(world["imap"]["id"], "user", world["ann"]["id"], alias=alias)
    assert "alias" in rules(await api.post("/mail-accounts", body))


async def test_a11_folders_only_on_imap(api: Api) -> None:
    world = await _world(api)
    folders = {"inbox_folder": "INBOX/Work", "trash_folder": "Bin", "spam_folder": "Spam"}
    pop3 = account_body(world["pop3"]["id"], "user", world["ann"]["id"], **folders)
    assert rules(await api.post("/mail-accounts", pop3)) == dict.fromkeys(folders, "A11")
    imap = await api.create(
        "/mail-accounts", account_body(world["imap"]["id"], "user", world["ann"]["id"], **folders)
    )
    assert {k: imap[k] for k in folders} == folders
    moved = await api.patch(f"/mail-accounts/{imap['id']}", {"server_id": world["pop3"]["id"]})
    assert rules(moved) == dict.fromkeys(folders, "A11")


async def test_owner_cannot_be_deleted_while_owning_accounts(api: Api) -> None:
    world = await _world(api)
    account = await api.create(
        "/mail-accounts", account_body(world["imap"]["id"], "user", world["ann"]["id"])
    )
    response = await api.delete(f"/users/{world['ann']['id']}")
    assert response.status_code == 409
    assert response.json()["blocking_ids"] == [account["id"]]
    assert (await api.delete(f"/mail-accounts/{account['id']}")).status_code == 204
    assert (await api.delete(f"/users/{world['ann']['id']}")).status_code == 204


async def test_a11_sync_folders_only_on_imap(api: Api) -> None:
    world = await _world(api)
    pop3 = account_body(world["pop3"]["id"], "user", world["ann"]["id"], sync_folders=["Work"])
    assert rules(await api.post("/mail-accounts", pop3)) == {"sync_folders": "A11"}
    imap = account_body(world["imap"]["id"], "user", world["ann"]["id"], sync_folders=["Work", "Ä"])
    account = await api.create("/mail-accounts", imap)
    assert account["sync_folders"] == ["Work", "Ä"]
    turned = await api.patch(f"/mail-servers/{world['imap']['id']}", {"incoming_protocol": "pop3"})
    assert rules(turned) == {"incoming_protocol": "A11"}
