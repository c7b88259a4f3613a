"""The local identity provider over HTTPS without msal (issue #13, O4): what a careless or
hostile client meets — a replayed code, a wrong PKCE verifier, a wrong secret, an unregistered
redirect_uri, a cancelled or failed sign-in — and what Dovecot sees: discovery, JWKS, and
introspection of valid, expired, forged and revoked tokens."""

import base64
import hashlib
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.identity_provider_browser import SignInRefused
from mailbridge.testkit.identity_provider_tokens import OUTLOOK_AUDIENCE, Person, SigningKey, TokenMinter
from mailbridge.testkit.oauth_fixtures import OAuthClient, OAuthUser

IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"


@pytest.fixture
def http(identity_provider: LocalIdentityProvider) -> Iterator[httpx.Client]:
    trust = ssl.create_default_context(cafile=identity_provider.ca_file)
    with httpx.Client(verify=trust, trust_env=False, timeout=30.0) as client:
        yield client


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _callback(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


@dataclass(frozen=True)
class Signing:
    """One test's client and user at the session's provider, and the HTTP client that talks to it."""

    http: httpx.Client
    provider: LocalIdentityProvider
    client: OAuthClient
    user: OAuthUser

    def authorize_url(self, challenge: str, **extra: str) -> str:
        params = {
            "client_id": self.client.client_id, "redirect_uri": self.client.redirect_uri, "response_type": "code",
            "scope": f"openid profile offline_access {IMAP}", "state": "the-state", "nonce": "the-nonce",
            "code_challenge": challenge, "code_challenge_method": "S256", "response_mode": "query",
            "prompt": "select_account", **extra,
        }  # fmt: skip
        return f"{self.provider.authority}/oauth2/v2.0/authorize?{urlencode(params)}"

    def code(self, challenge: str, **extra: str) -> str:
        """Sign in as the user; the code from the callback (whose state is checked)."""
        location = self.provider.browser_sign_in(
            self.authorize_url(challenge, **extra), self.user.login, self.user.password
        )
        assert location.startswith(self.client.redirect_uri + "?")
        callback = _callback(location)
        assert callback["state"] == "the-state"
        return callback["code"]

    def redeem(self, code: str, verifier: str, secret: str | None = None) -> httpx.Response:
        form = {
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.client.redirect_uri,
            "code_verifier": verifier, "client_id": self.client.client_id,
            "client_secret": secret or self.client.client_secret or "",
        }  # fmt: skip
        return self.http.post(f"{self.provider.authority}/oauth2/v2.0/token", data=form)


@pytest.fixture
def signing(
    http: httpx.Client,
    identity_provider: LocalIdentityProvider,
    oauth_client: OAuthClient,
    oauth_user: OAuthUser,
) -> Signing:
    return Signing(http, identity_provider, oauth_client, oauth_user)


def test_a_code_redeems_once_with_its_verifier(signing: Signing) -> None:
    verifier, challenge = _pkce()
    code = signing.code(challenge)
    answer = signing.redeem(code, verifier)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["token_type"], body["scope"], body["expires_in"]) == ("Bearer", IMAP, 3600)
    assert {"access_token", "refresh_token", "id_token", "ext_expires_in"} <= body.keys()
    assert "client_info" not in body  # only when the request asks with client_info=1
    id_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert (id_claims["nonce"], id_claims["aud"]) == ("the-nonce", signing.client.client_id)
    replay = signing.redeem(code, verifier)
    assert (replay.status_code, replay.json()["error"], replay.json()["error_codes"]) == (
        400,
        "invalid_grant",
        [54005],
    )


def test_a_wrong_pkce_verifier_is_refused(signing: Signing) -> None:
    code = signing.code(_pkce()[1])
    answer = signing.redeem(code, _pkce()[0])
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    assert "code_verifier" in answer.json()["error_description"]


def test_a_wrong_client_secret_is_invalid_client(signing: Signing) -> None:
    verifier, challenge = _pkce()
    answer = signing.redeem(signing.code(challenge), verifier, secret="not-the-secret")
    assert (answer.status_code, answer.json()["error"], answer.json()["error_codes"]) == (
        401,
        "invalid_client",
        [7000215],
    )


def test_client_secret_basic_authenticates_too(signing: Signing) -> None:
    verifier, challenge = _pkce()
    form = {"grant_type": "authorization_code", "code": signing.code(challenge), "code_verifier": verifier,
            "redirect_uri": signing.client.redirect_uri}  # fmt: skip
    credentials = (signing.client.client_id, signing.client.client_secret or "")
    answer = signing.http.post(f"{signing.provider.authority}/oauth2/v2.0/token", data=form, auth=credentials)
    assert answer.status_code == 200
    assert "access_token" in answer.json()


@pytest.mark.parametrize(
    ("asked", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
    ],
)
def test_a_bad_request_from_a_known_client_is_redirected_with_the_error(
    signing: Signing, asked: dict[str, str], error: str
) -> None:
    answer = signing.http.get(signing.authorize_url(_pkce()[1], **asked))
    assert answer.status_code == 302
    callback = _callback(answer.headers["location"])
    assert (callback["error"], callback["state"]) == (error, "the-state")


def test_without_offline_access_there_is_no_refresh_token(signing: Signing) -> None:
    verifier, challenge = _pkce()
    body = signing.redeem(signing.code(challenge, scope=f"openid {IMAP}"), verifier).json()
    assert "access_token" in body
    assert "refresh_token" not in body


def test_cancel_redirects_with_access_denied_and_the_state(signing: Signing) -> None:
    url = signing.authorize_url(_pkce()[1])
    location = signing.provider.browser_sign_in(url, signing.user.login, signing.user.password, accept=False)
    callback = _callback(location)
    assert (callback["error"], callback["state"]) == ("access_denied", "the-state")
    assert "AADSTS65004" in callback["error_description"]
    assert "code" not in callback


def test_a_wrong_password_shows_the_form_again(signing: Signing) -> None:
    with pytest.raises(SignInRefused, match="AADSTS50126"):
        signing.provider.browser_sign_in(signing.authorize_url(_pkce()[1]), signing.user.login, "wrong")


@pytest.mark.parametrize("bad", [{"redirect_uri": "https://attacker.example/cb"}, {"client_id": "nobody"}])
def test_an_unknown_client_or_redirect_uri_gets_an_error_page_never_a_redirect(
    signing: Signing, bad: dict[str, str]
) -> None:
    answer = signing.http.get(signing.authorize_url(_pkce()[1], **bad))
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "AADSTS" in answer.text


def test_discovery_and_keys_verify_a_minted_token(
    http: httpx.Client, identity_provider: LocalIdentityProvider
) -> None:
    config = http.get(f"{identity_provider.authority}/v2.0/.well-known/openid-configuration").json()
    assert config["issuer"] == identity_provider.issuer
    assert config["token_endpoint"] == f"{identity_provider.authority}/oauth2/v2.0/token"
    assert config["introspection_endpoint"] == identity_provider.introspection_url
    assert config["device_authorization_endpoint"] == f"{identity_provider.authority}/oauth2/v2.0/devicecode"
    [key] = http.get(config["jwks_uri"]).json()["keys"]
    assert key["kid"] == identity_provider.signing_key_id
    token = identity_provider.mint_access_token("erin@example.org", [IMAP])
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["RS256"], audience=OUTLOOK_AUDIENCE, issuer=config["issuer"]
    )
    assert (claims["scope"], claims["upn"]) == (IMAP, "erin@example.org")
    jwt.decode(token, identity_provider.public_key_pem, algorithms=["RS256"], audience=OUTLOOK_AUDIENCE)


def _introspect(http: httpx.Client, provider: LocalIdentityProvider, token: str) -> dict[str, Any]:
    answer: dict[str, Any] = http.post(provider.introspection_url, data={"token": token}).json()
    return answer


def test_introspection_answers_inactive_for_expired_forged_and_revoked_tokens(
    http: httpx.Client, identity_provider: LocalIdentityProvider
) -> None:
    login = f"frank-{secrets.token_hex(4)}@example.org"
    valid = identity_provider.mint_access_token(login, [IMAP])
    expired = identity_provider.mint_access_token(login, [IMAP], expires_in_s=-60)
    forger = TokenMinter(SigningKey.generate(), identity_provider.issuer)
    forged, _ = forger.access_token(
        Person(login, identity_provider.tenant_id), (IMAP,), "app", 600, int(time.time())
    )
    active = _introspect(http, identity_provider, valid)
    assert (active["active"], active["email"], active["scope"]) == (True, login, IMAP)
    by_get = http.get(
        identity_provider.introspection_url, headers={"Authorization": f"Bearer {valid}"}
    ).json()
    assert by_get["active"] is True
    for token in (expired, forged, "garbage"):
        assert _introspect(http, identity_provider, token) == {"active": False}
    identity_provider.revoke(login)
    assert _introspect(http, identity_provider, valid) == {"active": False}
    assert http.get(identity_provider.introspection_url, params={"token": valid}).json() == {"active": False}


def test_the_access_token_lifetime_is_settable(signing: Signing) -> None:
    verifier, challenge = _pkce()
    code = signing.code(challenge)
    before = signing.provider.access_token_lifetime_s
    signing.provider.access_token_lifetime_s = 30
    try:
        body = signing.redeem(code, verifier).json()
    finally:
        signing.provider.access_token_lifetime_s = before
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == claims["exp"] - claims["iat"] == 30


def test_an_unknown_user_code_is_refused_at_the_device_page(
    identity_provider: LocalIdentityProvider, oauth_user: OAuthUser
) -> None:
    with pytest.raises(SignInRefused, match="AADSTS70019"):
        identity_provider.approve_device_code("NOSUCHCO", oauth_user.login, oauth_user.password)
