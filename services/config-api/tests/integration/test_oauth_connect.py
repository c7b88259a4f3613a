"""O4 connect through the API, against a stand-in broker on a real NATS: the redirect URI a
provider shows, POST /mail-accounts/{id}/oauth/connect (who may, and each refusal as a problem),
and the broker's account state on the account (oauth_status, oauth_reason)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from broker_double import broker_double
from config_api_testing import Api, oauth_world, serving
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.oauth_providers import MICROSOFT365
from mailbridge.common.oauth_requests import (
    CONNECT_REQUEST_SUBJECT,
    ConnectRefused,
    ConnectStarted,
    FlowRefusal,
)
from mailbridge.common.secrets import generate_key
from mailbridge.config_api.settings import ConfigApiSettings

EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
AUTHORIZE = "https://id.example.com/organizations/oauth2/v2.0/authorize?state=s1&code_challenge=c"


def started(account_id: str) -> ConnectStarted:
    return ConnectStarted(account_id=uuid.UUID(account_id), authorization_url=AUTHORIZE, expires_at=EXPIRES)


async def test_a_provider_shows_the_redirect_uri_from_the_request_when_no_public_url_is_set(
    api: Api,
) -> None:
    world = await oauth_world(api)
    assert world["provider"]["redirect_uri"] == "http://mailbridge/oauth/callback"


@pytest.fixture
async def public_api(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API with MAILBRIDGE_PUBLIC_URL set, reached under another host name."""
    settings = ConfigApiSettings(
        database_url=database_url, nats_url=nats_url, secret_key=generate_key(), var_dir=tmp_path,
        scheduler_tick_s=0, outbox_relay=False, public_url="https://mail.example.com/mailbridge/",
    )  # fmt: skip
    async with serving(settings, base_url="http://internal:8080/api/v1") as api:
        yield api


async def test_the_redirect_uri_is_the_public_url_with_oauth_callback_in_lists_and_connects(
    api: Api, public_api: Api, nats_url: str
) -> None:
    world = await oauth_world(api)
    expected = "https://mail.example.com/mailbridge/oauth/callback"
    assert (await public_api.get(f"/oauth-providers/{world['provider']['id']}")).json()[
        "redirect_uri"
    ] == expected
    assert [p["redirect_uri"] for p in (await public_api.get("/oauth-providers")).json()["items"]] == [
        expected
    ]
    account_id = world["mine"]["id"]
    async with broker_double(nats_url, {CONNECT_REQUEST_SUBJECT: [started(account_id)]}) as broker:
        assert (await public_api.post(f"/mail-accounts/{account_id}/oauth/connect")).status_code == 200
    assert broker.received[CONNECT_REQUEST_SUBJECT] == [{"account_id": account_id, "redirect_uri": expected}]


async def test_microsoft365_without_default_settings_or_scopes_asks_for_the_microsoft365_scopes(
    api: Api,
) -> None:
    provider = await api.create(
        "/oauth-providers",
        {
            "name": "Own app", "server_type": "microsoft365_email", "use_default_settings": False,
            "authority": "https://login.microsoftonline.com/contoso.onmicrosoft.com", "client_id": "app-id",
        },
    )  # fmt: skip
    assert provider["scopes"] == []
    assert provider["effective_scopes"] == list(MICROSOFT365.scopes)
    assert {"https://outlook.office.com/SMTP.Send", "offline_access"} <= set(provider["effective_scopes"])


async def test_o4_connect_answers_the_brokers_authorization_url_for_the_admin_user_and_group_member(
    api: Api, nats_url: str
) -> None:
    world = await oauth_world(api)
    mine, shared = world["mine"]["id"], world["shared"]["id"]
    replies = [started(mine), started(mine), started(shared)]
    async with broker_double(nats_url, {CONNECT_REQUEST_SUBJECT: replies}) as broker:
        as_admin = await api.post(f"/mail-accounts/{mine}/oauth/connect")
        as_owner = await world["ann"].post(f"/mail-accounts/{mine}/oauth/connect")
        as_member = await world["bob"].post(f"/mail-accounts/{shared}/oauth/connect")
        as_stranger = await world["carol"].post(f"/mail-accounts/{mine}/oauth/connect")
        as_other_user = await world["bob"].post(f"/mail-accounts/{mine}/oauth/connect")
    for response in (as_admin, as_owner, as_member):
        assert response.status_code == 200, response.text
        assert response.json()["authorization_url"] == AUTHORIZE
        assert datetime.fromisoformat(response.json()["expires_at"]) == EXPIRES
    assert as_stranger.status_code == as_other_user.status_code == 404
    callback = "http://mailbridge/oauth/callback"
    assert broker.received[CONNECT_REQUEST_SUBJECT] == [
        {"account_id": mine, "redirect_uri": callback},
        {"account_id": mine, "redirect_uri": callback},
        {"account_id": shared, "redirect_uri": callback},
    ]


async def test_an_account_without_an_oauth_provider_is_409_and_the_broker_is_not_asked(
    api: Api, nats_url: str
) -> None:
    server = await api.create(
        "/mail-servers",
        {"name": "Plain", "smtp_host": "smtp.example.com", "incoming_protocol": "imap", "incoming_host": "imap.example.com"},
    )  # fmt: skip
    user = await api.create("/users", {"name": "Dan", "email": "dan@example.com"})
    account = await api.create(
        "/mail-accounts",
        {"owner": {"type": "user", "id": user["id"]}, "server_id": server["id"], "login": "dan@example.com", "address": "dan@example.com"},
    )  # fmt: skip
    async with broker_double(nats_url, {CONNECT_REQUEST_SUBJECT: [started(account["id"])]}) as broker:
        refused = await api.post(f"/mail-accounts/{account['id']}/oauth/connect")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "without an OAuth provider" in refused.json()["detail"]
    assert broker.received[CONNECT_REQUEST_SUBJECT] == []


@pytest.mark.parametrize(
    ("error", "status"),
    [(FlowRefusal.NOT_OAUTH, 409), (FlowRefusal.UNAVAILABLE, 503), (FlowRefusal.BAD_REQUEST, 502)],
)
async def test_the_brokers_refusals_become_problems_with_its_reason(
    api: Api, nats_url: str, error: FlowRefusal, status: int
) -> None:
    account_id = (await oauth_world(api))["mine"]["id"]
    reply = ConnectRefused(account_id=uuid.UUID(account_id), error=error, detail="the provider said <no>")
    async with broker_double(nats_url, {CONNECT_REQUEST_SUBJECT: [reply]}):
        refused = await api.post(f"/mail-accounts/{account_id}/oauth/connect")
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "the provider said <no>" in refused.json()["detail"]
    assert ("Retry-After" in refused.headers) == (status == 503)


async def test_no_broker_running_is_503_with_retry_after_and_the_reason(api: Api) -> None:
    account_id = (await oauth_world(api))["mine"]["id"]
    refused = await api.post(f"/mail-accounts/{account_id}/oauth/connect")
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    problem = refused.json()
    assert problem["title"] == "Service unavailable"
    assert "no OAuth broker is running" in problem["detail"]


async def test_accounts_show_the_brokers_state_and_reason(api: Api) -> None:
    world = await oauth_world(api)
    account_id = world["mine"]["id"]
    assert (world["mine"]["oauth_status"], world["mine"]["oauth_reason"]) == ("disconnected", None)
    for state, reason in [("connected", None), ("needs_reconnect", "AADSTS50173: the grant was revoked")]:
        async with api.running.sessions() as session:
            row = await session.get(MailAccount, uuid.UUID(account_id))
            assert row is not None
            row.oauth_state, row.oauth_reason = state, reason
            await session.commit()
        shown = (await world["ann"].get(f"/mail-accounts/{account_id}")).json()
        assert (shown["oauth_status"], shown["oauth_reason"]) == (state, reason)
        listed = (await api.get("/mail-accounts")).json()["items"]
        assert {(a["id"], a["oauth_status"]) for a in listed} >= {(account_id, state)}


async def test_a3_a_password_for_an_oauth_account_is_still_refused(api: Api) -> None:
    account_id = (await oauth_world(api))["mine"]["id"]
    refused = await api.patch(f"/mail-accounts/{account_id}", {"password": "secret"})
    assert refused.status_code == 422
    assert {e["field"]: e["rule"] for e in refused.json()["errors"]} == {"password": "A3"}
