"""#10 items 4 and 5: control characters in what goes into protocol commands, and NUL anywhere
(body, query, path), are refused with 422 naming each field, on POST and PATCH, on both databases."""

from typing import Any

import pytest
from config_api_testing import Api, account_body, imap_server_body, pop3_server_body, rules
from mailbridge.common.db.tables import MailAccount, MailServer
from sqlalchemy import func, select

INJECTIONS = ["evil\r\nDELE 1", "ann\n", "a\tb", "x\x7f", "x\x85y", "ann\x00"]


async def _server_and_user(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    server = await api.create("/mail-servers", pop3_server_body())
    user = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    return server, user


async def _count(api: Api, table: type[MailAccount] | type[MailServer]) -> int:
    async with api.running.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.parametrize("value", INJECTIONS)
async def test_login_and_password_with_control_characters_are_refused(api: Api, value: str) -> None:
    server, user = await _server_and_user(api)
    body = account_body(server["id"], "user", user["id"], login=value, password=value)
    refused = rules(await api.post("/mail-accounts", body))
    expected = "nul_character" if "\x00" in value else "control_character"
    assert refused == {"login": expected, "password": expected}
    assert await _count(api, MailAccount) == 0

    account = await api.create(
        "/mail-accounts", account_body(server["id"], "user", user["id"], password="pw")
    )
    for field in ("login", "password"):
        assert rules(await api.patch(f"/mail-accounts/{account['id']}", {field: value})) == {field: expected}
    stored = (await api.get(f"/mail-accounts/{account['id']}")).json()
    assert (stored["login"], stored["version"]) == ("ann@example.com", account["version"])


async def test_folder_names_and_hosts_with_line_breaks_are_refused(api: Api) -> None:
    bad = "Trash\r\nA1 DELETE INBOX"
    server_fields = ["trash_folder", "spam_folder", "sent_folder", "smtp_host", "incoming_host"]
    server_body = imap_server_body(**dict.fromkeys(server_fields, bad))
    assert rules(await api.post("/mail-servers", server_body)) == dict.fromkeys(
        server_fields, "control_character"
    )
    server = await api.create("/mail-servers", imap_server_body())
    patched = await api.patch(f"/mail-servers/{server['id']}", {"incoming_host": "imap.example.com\n"})
    assert rules(patched) == {"incoming_host": "control_character"}

    user = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    folders = {"inbox_folder": bad, "trash_folder": bad, "spam_folder": bad}
    body = account_body(server["id"], "user", user["id"], sync_folders=["Ok", bad], **folders)
    assert rules(await api.post("/mail-accounts", body)) == {
        "inbox_folder": "control_character",
        "trash_folder": "control_character",
        "spam_folder": "control_character",
        "sync_folders.1": "control_character",
    }
    problem = (await api.post("/mail-accounts", body)).json()
    assert "U+000D" in problem["detail"], "the reason names the character"


async def test_oauth_client_values_with_control_characters_are_refused(api: Api) -> None:
    body = {
        "name": "Issuer", "server_type": "generic_oidc", "authority": "https://id.example.com/realm",
        "client_id": "app\r\nx", "tenant": "t\n", "client_secret": "s\r\n", "scopes": ["openid", "mail\r\n"],
    }  # fmt: skip
    assert rules(await api.post("/oauth-providers", body)) == {
        "client_id": "control_character",
        "tenant": "control_character",
        "client_secret": "control_character",
        "scopes.1": "control_character",
    }


async def test_nul_anywhere_is_a_422_on_both_databases(api: Api) -> None:
    """The four requests that answered 500 on PostgreSQL, and NUL in PATCH, query and path."""
    assert rules(await api.post("/users", {"name": "A\x00nn", "email": "ann@example.com"})) == {
        "name": "nul_character"
    }
    server_body = imap_server_body(spam_folder="Junk\x00")
    assert rules(await api.post("/mail-servers", server_body)) == {"spam_folder": "nul_character"}
    server, user = await _server_and_user(api)
    body = account_body(server["id"], "user", user["id"], login="ann\x00")
    assert rules(await api.post("/mail-accounts", body)) == {"login": "nul_character"}

    account = await api.create("/mail-accounts", account_body(server["id"], "user", user["id"]))
    messages = f"/mail-accounts/{account['id']}/messages"
    assert rules(await api.get(messages, folder="\x00")) == {"folder": "nul_character"}
    assert rules(await api.get(messages, folder="INBOX", cursor="a\x00")) == {"cursor": "nul_character"}
    assert rules(await api.get("/mail-servers/%00")) == {"path": "nul_character"}
    assert rules(await api.patch(f"/users/{user['id']}", {"name": "\x00"})) == {"name": "nul_character"}
    listed = await api.get(messages, folder="INBOX")
    assert listed.status_code == 200, "a plain folder still lists"
