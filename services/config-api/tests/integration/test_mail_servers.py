"""Mail servers: S1 names, S3/S8/S9 hosts and effective ports, S4 no password in clear, S10–S12
protocol rules, S2, S13."""

import pytest
from config_api_testing import Api, account_body, imap_server_body, pop3_server_body, rules


async def test_s1_name_is_required_and_unique(api: Api) -> None:
    await api.create("/mail-servers", imap_server_body("Office"))
    assert rules(await api.post("/mail-servers", imap_server_body("Office"))) == {"name": "S1"}
    assert "name" in rules(await api.post("/mail-servers", imap_server_body("  ")))


@pytest.mark.parametrize(
    ("smtp_host", "encryption", "port"),
    [
        ("smtp.example.com", "auto", 587),
        ("smtp.example.com", "none", 587),
        ("smtp.example.com", "ssl", 465),
        ("127.0.0.1:25", "none", 25),
        ("[::1]:2525", "auto", 2525),
        ("[2001:db8::1]", "ssl", 465),
    ],
)
async def test_s3_smtp_host_and_effective_port(api: Api, smtp_host: str, encryption: str, port: int) -> None:
    server = await api.create(  # S4: no AUTH in clear off loopback (test_s4_… below)
        "/mail-servers", imap_server_body(smtp_host=smtp_host, smtp_encryption=encryption, smtp_auth=False)
    )
    assert (server["smtp_host"], server["smtp_port"]) == (smtp_host, port)


@pytest.mark.parametrize(
    "host", ["smtp.example.com", "10.0.0.25:25", "[2001:db8::1]:587", "localhost.example.com"]
)
async def test_s4_auth_in_clear_off_loopback_is_refused(api: Api, host: str) -> None:
    """#17: smtp_encryption none with smtp_auth would send the password in clear: 422 on the
    field, naming why and the way out; on PATCH too, which validates the whole server."""
    body = imap_server_body(smtp_host=host, smtp_encryption="none", smtp_auth=True)
    refused = await api.post("/mail-servers", body)
    assert rules(refused) == {"smtp_encryption": "S4"}
    assert "in clear" in refused.json()["detail"]
    assert "allow_plaintext_auth" in refused.json()["detail"]
    server = await api.create("/mail-servers", body | {"smtp_encryption": "auto"})
    assert server["allow_plaintext_auth"] is False
    path = f"/mail-servers/{server['id']}"
    assert rules(await api.patch(path, {"smtp_encryption": "none"}, {"If-Match": '"1"'})) == {
        "smtp_encryption": "S4"
    }


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("127.0.0.1:25", False), ("127.10.0.1", False), ("[::1]:2525", False), ("localhost:25", False),
     ("mail.localhost", False), ("smtp.example.com", True)],
)  # fmt: skip
async def test_s4_auth_in_clear_on_loopback_or_when_allowed(api: Api, host: str, allowed: bool) -> None:
    body = imap_server_body(
        smtp_host=host, smtp_encryption="none", smtp_auth=True, allow_plaintext_auth=allowed
    )
    server = await api.create("/mail-servers", body)
    assert (server["smtp_encryption"], server["smtp_auth"], server["allow_plaintext_auth"]) == (
        "none",
        True,
        allowed,
    )
    if allowed:  # taking the allowance back off refuses the server as it stands
        changed = await api.patch(
            f"/mail-servers/{server['id']}", {"allow_plaintext_auth": False}, {"If-Match": '"1"'}
        )
        assert rules(changed) == {"smtp_encryption": "S4"}


@pytest.mark.parametrize("bad", ["", "::1", "[::1", "[nonsense]:25", "host:0", "host:70000", "ho st", "a:b"])
async def test_s3_bad_smtp_host_names_the_field(api: Api, bad: str) -> None:
    assert rules(await api.post("/mail-servers", imap_server_body(smtp_host=bad))) == {"smtp_host": "S3"}


@pytest.mark.parametrize(
    ("protocol", "host", "tls", "mode", "port", "security"),
    [
        ("imap", "imap.example.com", True, "auto", 993, "implicit_tls"),
        ("imap", "imap.example.com", False, "auto", 143, "none"),
        ("imap", "imap.example.com:143", True, "auto", 143, "starttls"),
        ("imap_download", "imap.example.com", True, "auto", 993, "implicit_tls"),
        ("pop3", "pop.example.com", True, "auto", 995, "implicit_tls"),
        ("pop3", "pop.example.com", False, "auto", 110, "none"),
        ("pop3", "pop.example.com:110", True, "auto", 110, "starttls"),
        ("imap", "127.0.0.1:10993", True, "implicit", 10993, "implicit_tls"),
        ("imap", "[::1]:10143", True, "starttls", 10143, "starttls"),
    ],
)
async def test_s8_s9_incoming_port_and_security(
    api: Api, protocol: str, host: str, tls: bool, mode: str, port: int, security: str
) -> None:
    body = imap_server_body(
        incoming_protocol=protocol, incoming_host=host, incoming_tls=tls, incoming_tls_mode=mode
    )
    server = await api.create("/mail-servers", body)
    assert (server["incoming_port"], server["incoming_security"]) == (port, security)


async def test_s8_bad_incoming_host(api: Api) -> None:
    assert rules(await api.post("/mail-servers", imap_server_body(incoming_host="x:y"))) == {
        "incoming_host": "S8"
    }


async def test_s10_folders_are_imap_only(api: Api) -> None:
    body = pop3_server_body(trash_folder="Trash", spam_folder="Junk", sent_folder="Sent")
    assert rules(await api.post("/mail-servers", body)) == {
        "trash_folder": "S10", "spam_folder": "S10", "sent_folder": "S10",
    }  # fmt: skip
    imap = await api.create("/mail-servers", imap_server_body(trash_folder="Trash", sent_folder="Sent"))
    assert (imap["trash_folder"], imap["sent_folder"]) == ("Trash", "Sent")


async def test_s11_s12_deleting_is_pop3_only(api: Api) -> None:
    body = imap_server_body(delete_after_fetch=True, delete_after_days=3)
    assert rules(await api.post("/mail-servers", body)) == {
        "delete_after_fetch": "S11",
        "delete_after_days": "S12",
    }
    pop3 = await api.create("/mail-servers", pop3_server_body(delete_after_fetch=True, delete_after_days=3))
    assert (pop3["delete_after_fetch"], pop3["delete_after_days"]) == (True, 3)


@pytest.mark.parametrize("days", [0, -1])
async def test_s12_delete_after_days_at_least_one(api: Api, days: int) -> None:
    assert rules(await api.post("/mail-servers", pop3_server_body(delete_after_days=days))) == {
        "delete_after_days": "S12"
    }


async def test_s2_unknown_oauth_provider_is_rejected(api: Api) -> None:
    body = imap_server_body(oauth_provider_id="01a21a80-4577-7c31-aec5-77c42ab161e2")
    assert rules(await api.post("/mail-servers", body)) == {"oauth_provider_id": "reference"}


async def test_several_offending_fields_are_all_named(api: Api) -> None:
    body = pop3_server_body(smtp_host="bad host", trash_folder="Trash", smtp_encryption="tls")
    assert rules(await api.post("/mail-servers", body)).keys() >= {"smtp_host", "smtp_encryption"}


async def test_unknown_fields_are_rejected_not_dropped(api: Api) -> None:
    assert "smtp_pasword" in rules(await api.post("/mail-servers", imap_server_body(smtp_pasword="x")))


async def test_s13_etag_and_stale_if_match(api: Api) -> None:
    server = await api.create("/mail-servers", imap_server_body())
    path = f"/mail-servers/{server['id']}"
    first = await api.get(path)
    assert first.headers["etag"] == '"1"'
    changed = await api.patch(path, {"smtp_auth": False}, {"If-Match": '"1"'})
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'
    stale = await api.patch(path, {"name": "Renamed"}, {"If-Match": '"1"'})
    assert stale.status_code == 412
    assert (await api.get(path)).json()["name"] == server["name"]
    assert (await api.delete(path, {"If-Match": '"1"'})).status_code == 412
    assert (await api.delete(path, {"If-Match": '"2"'})).status_code == 204


async def test_patch_is_validated_as_a_whole(api: Api) -> None:
    server = await api.create("/mail-servers", imap_server_body(trash_folder="Trash"))
    path = f"/mail-servers/{server['id']}"
    assert rules(await api.patch(path, {"incoming_protocol": "pop3"})) == {"trash_folder": "S10"}
    assert rules(await api.patch(path, {"name": None})) == {"name": "string_type"}
    assert (await api.get(path)).json()["version"] == 1


async def test_delete_in_use_is_409_naming_the_accounts(api: Api) -> None:
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    account = await api.create("/mail-accounts", account_body(server["id"], "user", ann["id"]))
    response = await api.delete(f"/mail-servers/{server['id']}")
    assert response.status_code == 409
    assert response.json()["blocking_ids"] == [account["id"]]
    assert (await api.get(f"/mail-servers/{server['id']}")).status_code == 200


async def test_a11_server_cannot_turn_pop3_under_accounts_with_folders(api: Api) -> None:
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    account = await api.create(
        "/mail-accounts", account_body(server["id"], "user", ann["id"], inbox_folder="Work")
    )
    response = await api.patch(f"/mail-servers/{server['id']}", {"incoming_protocol": "pop3"})
    assert rules(response) == {"incoming_protocol": "A11"}
    assert account["id"] in response.json()["detail"]


async def test_missing_server_is_404(api: Api) -> None:
    response = await api.get("/mail-servers/01a21a80-4577-7c31-aec5-77c42ab161e2")
    assert response.status_code == 404
    assert response.json()["title"] == "Not found"
