"""OAuth providers (O1) and the global mail settings (G1–G6)."""

from config_api_testing import Api, imap_server_body, rules
from sqlalchemy import text


async def test_o1_microsoft365_default_settings_need_no_further_input(api: Api) -> None:
    provider = await api.create(
        "/oauth-providers",
        {"name": "M365", "server_type": "microsoft365_email", "use_default_settings": True},
    )
    assert provider["effective_authority"] == "https://login.microsoftonline.com/organizations"
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in provider["effective_scopes"]
    assert "offline_access" in provider["effective_scopes"]


async def test_o1_without_defaults_authority_and_client_id_are_required(api: Api) -> None:
    body: dict[str, object] = {"name": "Issuer", "server_type": "generic_oidc"}
    assert rules(await api.post("/oauth-providers", body)) == {"authority": "O1", "client_id": "O1"}
    body |= {"use_default_settings": True}
    assert rules(await api.post("/oauth-providers", body)) == {"use_default_settings": "O1"}


async def test_client_secret_is_write_only_and_encrypted(api: Api) -> None:
    secret = "s3cr3t-client-value"
    provider = await api.create(
        "/oauth-providers",
        {
            "name": "Issuer", "server_type": "generic_oidc", "authority": "https://id.example.com/realm",
            "client_id": "mailbridge", "client_secret": secret, "scopes": ["openid", "email"],
        },
    )  # fmt: skip
    assert provider["has_client_secret"] is True
    assert "client_secret" not in provider
    assert provider["effective_scopes"] == ["openid", "email"]
    async with api.running.sessions() as session:
        rows = (await session.execute(text("SELECT * FROM oauth_providers"))).all()
    assert secret not in repr(rows)


async def test_provider_in_use_cannot_be_deleted(api: Api) -> None:
    provider = await api.create(
        "/oauth-providers",
        {"name": "M365", "server_type": "microsoft365_email", "use_default_settings": True},
    )
    server = await api.create("/mail-servers", imap_server_body(oauth_provider_id=provider["id"]))
    response = await api.delete(f"/oauth-providers/{provider['id']}")
    assert response.status_code == 409
    assert response.json()["blocking_ids"] == [server["id"]]


async def test_settings_defaults_g2_every_15_minutes(api: Api) -> None:
    settings = (await api.get("/settings/mail")).json()
    assert settings["fetch_interval_minutes"] == 15
    flags = ("hide_mailbox", "disallow_manual_fetch", "users_can_reload", "lock_after_send")
    assert [settings[flag] for flag in flags] == [False, False, False, False]
    assert settings["show_outbox_folder"] is True


async def test_settings_change_with_if_match_and_validation(api: Api) -> None:
    first = await api.get("/settings/mail")
    etag = first.headers["etag"]
    changed = await api.patch(
        "/settings/mail",
        {"hide_mailbox": True, "fetch_interval_minutes": None, "lock_after_send": True},
        {"If-Match": etag},
    )
    assert changed.status_code == 200
    assert changed.json()["fetch_interval_minutes"] is None
    assert (
        await api.patch("/settings/mail", {"users_can_reload": True}, {"If-Match": etag})
    ).status_code == 412
    assert rules(await api.patch("/settings/mail", {"fetch_interval_minutes": 0})) == {
        "fetch_interval_minutes": "G2"
    }
    final = (await api.get("/settings/mail")).json()
    assert (final["hide_mailbox"], final["users_can_reload"], final["version"]) == (True, False, 2)
