"""msal against the local identity provider over real HTTPS (issue #13, O4): the flows the
broker runs — authorization code with PKCE and nonce, silent refresh with rotation, revocation,
a disabled user, the device flow — with `instance_discovery=False` and a requests session that
trusts only the test CA (`trust_env=False`: REQUESTS_CA_BUNDLE would override `verify`)."""

import socket
import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msal  # type: ignore[import-untyped]
import pytest
import requests
from mailbridge.testkit.identity_provider import LocalIdentityProvider, running_identity_provider
from mailbridge.testkit.oauth_fixtures import OAuthClient, OAuthUser

IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
SMTP = "https://outlook.office.com/SMTP.Send"
SCOPES = [IMAP, SMTP]

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


def _session(provider: LocalIdentityProvider) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(provider.ca_file)
    return session


def _confidential(provider: LocalIdentityProvider, client: OAuthClient) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client.client_id, client_credential=client.client_secret, authority=provider.authority,
        instance_discovery=False, http_client=_session(provider),
    )  # fmt: skip


def _public(provider: LocalIdentityProvider, client: OAuthClient) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        client.client_id,
        authority=provider.authority,
        instance_discovery=False,
        http_client=_session(provider),
    )


def _connect(
    provider: LocalIdentityProvider, app: msal.ClientApplication, client: OAuthClient, user: OAuthUser
) -> dict[str, Any]:
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=client.redirect_uri)
    callback = provider.browser_sign_in(flow["auth_uri"], user.login, user.password)
    result: dict[str, Any] = app.acquire_token_by_auth_code_flow(flow, _query(callback))
    return result


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _refresh_tokens(app: msal.ClientApplication) -> list[str]:
    return [entry["secret"] for entry in app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)]


def test_authorization_code_flow_gives_an_account_with_a_refresh_token(
    identity_provider: LocalIdentityProvider, oauth_client: OAuthClient, oauth_user: OAuthUser
) -> None:
    app = _confidential(identity_provider, oauth_client)
    result = _connect(identity_provider, app, oauth_client, oauth_user)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == oauth_user.login
    assert set(result["scope"].split()) == set(SCOPES)
    [account] = app.get_accounts()
    claims = result["id_token_claims"]
    assert account["home_account_id"] == f"{claims['oid']}.{claims['tid']}"
    assert account["username"] == oauth_user.login
    assert len(_refresh_tokens(app)) == 1
    assert identity_provider.grants_redeemed(oauth_user.login, "authorization_code") == 1


def test_a_forced_silent_refresh_rotates_the_refresh_token(
    identity_provider: LocalIdentityProvider, oauth_client: OAuthClient, oauth_user: OAuthUser
) -> None:
    app = _confidential(identity_provider, oauth_client)
    first = _connect(identity_provider, app, oauth_client, oauth_user)
    [old] = _refresh_tokens(app)
    renewed = app.acquire_token_silent([IMAP], account=app.get_accounts()[0], force_refresh=True)
    assert renewed is not None
    assert "access_token" in renewed
    assert renewed["access_token"] != first["access_token"]
    [new] = _refresh_tokens(app)
    assert new != old
    assert identity_provider.grants_redeemed(oauth_user.login, "refresh_token") == 1
    replay = app.acquire_token_by_refresh_token(old, [IMAP])
    assert replay["error"] == "invalid_grant"
    assert "AADSTS70000" in replay["error_description"]


@pytest.mark.parametrize(("cut_off", "code"), [("revoke", "AADSTS70000"), ("disable_user", "AADSTS50057")])
def test_a_revoked_or_disabled_user_gets_invalid_grant(
    identity_provider: LocalIdentityProvider,
    oauth_client: OAuthClient,
    oauth_user: OAuthUser,
    cut_off: str,
    code: str,
) -> None:
    app = _confidential(identity_provider, oauth_client)
    _connect(identity_provider, app, oauth_client, oauth_user)
    getattr(identity_provider, cut_off)(oauth_user.login)
    result = app.acquire_token_silent_with_error([IMAP], account=app.get_accounts()[0], force_refresh=True)
    assert result is not None
    assert result["error"] == "invalid_grant"
    assert result["error_description"].startswith(code)


def test_the_device_flow_with_a_public_client(
    identity_provider: LocalIdentityProvider, oauth_public_client: OAuthClient, oauth_user: OAuthUser
) -> None:
    app = _public(identity_provider, oauth_public_client)
    flow = app.initiate_device_flow(SCOPES)
    assert flow["interval"] == 1
    assert flow["verification_uri"].startswith(identity_provider.base_url)
    assert flow["user_code"] in flow["message"]
    pending = app.acquire_token_by_device_flow(flow, exit_condition=lambda _: True)
    assert pending["error"] == "authorization_pending"
    identity_provider.approve_device_code(flow["user_code"], oauth_user.login, oauth_user.password)
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda _: True)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == oauth_user.login
    assert len(_refresh_tokens(app)) == 1
    assert app.get_accounts()[0]["username"] == oauth_user.login


def test_a_declined_device_code_is_access_denied(
    identity_provider: LocalIdentityProvider, oauth_public_client: OAuthClient, oauth_user: OAuthUser
) -> None:
    app = _public(identity_provider, oauth_public_client)
    flow = app.initiate_device_flow(SCOPES)
    identity_provider.approve_device_code(
        flow["user_code"], oauth_user.login, oauth_user.password, accept=False
    )
    assert app.acquire_token_by_device_flow(flow, exit_condition=lambda _: True)["error"] == "access_denied"


def test_access_tokens_introspect_active_until_revoked(
    identity_provider: LocalIdentityProvider, oauth_client: OAuthClient, oauth_user: OAuthUser
) -> None:
    token = _connect(
        identity_provider, _confidential(identity_provider, oauth_client), oauth_client, oauth_user
    )["access_token"]
    with httpx.Client(
        verify=ssl.create_default_context(cafile=identity_provider.ca_file), trust_env=False
    ) as http:
        active = http.post(identity_provider.introspection_url, data={"token": token}).json()
        assert active["active"] is True
        assert (active["email"], active["username"]) == (oauth_user.login, oauth_user.login)
        assert set(active["scope"].split()) == set(SCOPES)
        assert active["sub"]
        assert active["exp"] > active["iat"]
        identity_provider.revoke(oauth_user.login)
        assert http.post(identity_provider.introspection_url, data={"token": token}).json() == {
            "active": False
        }


def test_a_provider_of_its_own_serves_another_tenant_until_stopped() -> None:
    with running_identity_provider(tenant="contoso.onmicrosoft.com") as provider:
        provider.register_client("single-tenant-app", "secret", ["http://127.0.0.1/cb"])
        assert provider.authority.endswith("/contoso.onmicrosoft.com")
        app = _confidential(provider, OAuthClient("single-tenant-app", "secret", "http://127.0.0.1/cb"))
        flow = app.initiate_auth_code_flow([IMAP], redirect_uri="http://127.0.0.1/cb")
        assert flow["auth_uri"].startswith(f"{provider.authority}/oauth2/v2.0/authorize?")
        port = int(provider.base_url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
