"""The local identity provider's rules (issue #13, O4) on a hand-turned clock: codes, rotation,
revocation, disabled users, client authentication and the device flow's states."""

import pytest
from mailbridge.testkit.identity_provider_errors import OAuthError
from mailbridge.testkit.identity_provider_grants import (
    DISABLED,
    REVOKED,
    ROTATED,
    AuthorizationRequest,
    Client,
    IdentityState,
)
from mailbridge.testkit.identity_provider_tokens import pkce_matches

IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
SMTP = "https://outlook.office.com/SMTP.Send"
CALLBACK = "http://127.0.0.1/oauth/callback"
SCOPES = ("openid", "profile", "offline_access", IMAP, SMTP)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> IdentityState:
    state = IdentityState(clock=clock, device_interval_s=5)
    state.register_client("app", "secret", [CALLBACK])
    state.register_client("other", "other-secret", [CALLBACK])
    state.register_client("cli", None, [])
    state.add_user("alice@example.org", "pw")
    return state


def _request(challenge: str | None = None, method: str | None = None) -> AuthorizationRequest:
    return AuthorizationRequest("app", CALLBACK, SCOPES, "st", "nonce-hash", challenge, method)


def _refusal(call: object) -> OAuthError:
    assert callable(call)
    with pytest.raises(OAuthError) as caught:
        call()
    return caught.value


def _app(state: IdentityState) -> Client:
    return state.authenticate_client("app", "secret")


def test_a_code_is_redeemed_once(state: IdentityState) -> None:
    code = state.issue_code(_request(), "alice@example.org")
    grant = state.redeem_code(_app(state), code, CALLBACK, None)
    assert (grant.login, grant.scopes, grant.nonce, grant.offline) == (
        "alice@example.org",
        SCOPES,
        "nonce-hash",
        True,
    )
    replay = _refusal(lambda: state.redeem_code(_app(state), code, CALLBACK, None))
    assert (replay.error, replay.description[:11]) == ("invalid_grant", "AADSTS54005")


def test_a_code_expires_after_60_seconds(state: IdentityState, clock: Clock) -> None:
    code = state.issue_code(_request(), "alice@example.org")
    clock.now += 61
    assert "AADSTS70008" in _refusal(lambda: state.redeem_code(_app(state), code, CALLBACK, None)).description


@pytest.mark.parametrize(
    ("client", "redirect_uri", "verifier", "why"),
    [
        ("other", CALLBACK, "v" * 43, "another client"),
        ("app", "http://127.0.0.1/elsewhere", "v" * 43, "redirect_uri"),
        ("app", CALLBACK, "w" * 43, "code_verifier"),
        ("app", CALLBACK, None, "code_verifier"),
    ],
)
def test_a_code_needs_its_client_redirect_uri_and_pkce_verifier(
    state: IdentityState, client: str, redirect_uri: str, verifier: str | None, why: str
) -> None:
    challenge = "v" * 43  # plain
    assert pkce_matches("v" * 43, challenge, "plain")
    code = state.issue_code(_request(challenge, "plain"), "alice@example.org")
    secret = {"app": "secret", "other": "other-secret"}[client]
    refused = _refusal(
        lambda: state.redeem_code(state.authenticate_client(client, secret), code, redirect_uri, verifier)
    )
    assert refused.error == "invalid_grant"
    assert why in refused.description


def test_refresh_tokens_rotate_strictly(state: IdentityState) -> None:
    grant = state.redeem_code(_app(state), state.issue_code(_request(), "alice@example.org"), CALLBACK, None)
    first = state.issue_refresh(grant)
    renewed = state.redeem_refresh(_app(state), first, ("openid", IMAP))
    assert (renewed.scopes, renewed.token_scopes, renewed.nonce) == (SCOPES, ("openid", IMAP), None)
    second = state.issue_refresh(renewed)
    assert _refusal(lambda: state.redeem_refresh(_app(state), first, ())).description == ROTATED
    assert state.redeem_refresh(_app(state), second, ()).token_scopes == SCOPES


def test_refresh_refuses_another_client_and_scopes_beyond_the_grant(state: IdentityState) -> None:
    grant = state.redeem_code(_app(state), state.issue_code(_request(), "alice@example.org"), CALLBACK, None)
    token = state.issue_refresh(grant)
    other = state.authenticate_client("other", "other-secret")
    assert _refusal(lambda: state.redeem_refresh(other, token, ())).error == "invalid_grant"
    beyond = _refusal(
        lambda: state.redeem_refresh(_app(state), token, ("https://outlook.office.com/EWS.AccessAsUser.All",))
    )
    assert "AADSTS65001" in beyond.description
    assert state.redeem_refresh(_app(state), token, ()).login == "alice@example.org"  # still usable once


def test_revoke_ends_refresh_and_access_tokens_and_a_new_sign_in_works(state: IdentityState) -> None:
    grant = state.redeem_code(_app(state), state.issue_code(_request(), "alice@example.org"), CALLBACK, None)
    token = state.issue_refresh(grant)
    state.record_access_token("jti-1", "Alice@example.org")
    state.revoke("ALICE@example.org")
    assert _refusal(lambda: state.redeem_refresh(_app(state), token, ())).description == REVOKED
    assert not state.access_token_active("jti-1", "alice@example.org")
    again = state.redeem_code(
        _app(state), state.issue_code(_request(), state.sign_in("alice@example.org", "pw")), CALLBACK, None
    )
    assert state.redeem_refresh(_app(state), state.issue_refresh(again), ()).login == "alice@example.org"


def test_a_disabled_user_cannot_refresh_or_sign_in(state: IdentityState) -> None:
    grant = state.redeem_code(_app(state), state.issue_code(_request(), "alice@example.org"), CALLBACK, None)
    token = state.issue_refresh(grant)
    state.record_access_token("jti-2", "alice@example.org")
    state.disable_user("alice@example.org")
    assert _refusal(lambda: state.redeem_refresh(_app(state), token, ())).description == DISABLED
    assert (
        _refusal(lambda: state.redeem_refresh(_app(state), token, ())).description == DISABLED
    )  # not used up
    assert _refusal(lambda: state.sign_in("alice@example.org", "pw")).description == DISABLED
    assert not state.access_token_active("jti-2", "alice@example.org")


def test_sign_in_refuses_a_wrong_password_or_unknown_user(state: IdentityState) -> None:
    assert "AADSTS50126" in _refusal(lambda: state.sign_in("alice@example.org", "wrong")).description
    assert "AADSTS50126" in _refusal(lambda: state.sign_in("nobody@example.org", "pw")).description
    assert state.sign_in("Alice@Example.org", "pw") == "alice@example.org"


def test_a_login_keeps_the_case_it_was_added_with(state: IdentityState) -> None:
    state.add_user("Bob.Smith@Example.org", "pw")
    login = state.sign_in("bob.smith@example.org", "pw")
    assert login == "Bob.Smith@Example.org"  # as Entra's preferred_username: the directory's spelling
    state.count_redeemed(login, "authorization_code")
    assert state.grants_redeemed("BOB.SMITH@example.org", "authorization_code") == 1


def test_client_authentication(state: IdentityState) -> None:
    assert _refusal(lambda: state.authenticate_client("app", None)).status == 401
    wrong = _refusal(lambda: state.authenticate_client("app", "nope"))
    assert (wrong.error, wrong.status, wrong.description[:14]) == ("invalid_client", 401, "AADSTS7000215:")
    assert _refusal(lambda: state.authenticate_client("ghost", None)).error == "unauthorized_client"
    assert state.authenticate_client("cli", None).secret is None  # a public client


def test_authorize_checks_client_and_registered_redirect_uri(state: IdentityState) -> None:
    assert state.client_for("app", CALLBACK).client_id == "app"
    assert "AADSTS50011" in _refusal(lambda: state.client_for("app", "https://evil.example/cb")).description
    assert "AADSTS700016" in _refusal(lambda: state.client_for("ghost", CALLBACK)).description


def test_device_code_pending_slow_down_then_tokens_once(state: IdentityState, clock: Clock) -> None:
    cli = state.authenticate_client("cli", None)
    device = state.start_device(cli, SCOPES)
    assert _refusal(lambda: state.poll_device(cli, device.device_code)).error == "authorization_pending"
    clock.now += 1  # sooner than the interval of 5 s
    assert _refusal(lambda: state.poll_device(cli, device.device_code)).error == "slow_down"
    clock.now += 5
    assert _refusal(lambda: state.poll_device(cli, device.device_code)).error == "authorization_pending"
    state.decide_device(device.user_code.lower(), "alice@example.org")
    clock.now += 5
    grant = state.poll_device(cli, device.device_code)
    assert (grant.login, grant.scopes, grant.client_id) == ("alice@example.org", SCOPES, "cli")
    assert _refusal(lambda: state.poll_device(cli, device.device_code)).error == "invalid_grant"
    assert (
        _refusal(lambda: state.decide_device(device.user_code, "alice@example.org")).error
        == "invalid_request"
    )


def test_device_code_declined_and_expired(state: IdentityState, clock: Clock) -> None:
    cli = state.authenticate_client("cli", None)
    declined, expired = state.start_device(cli, SCOPES), state.start_device(cli, SCOPES)
    state.decide_device(declined.user_code, None)
    assert _refusal(lambda: state.poll_device(cli, declined.device_code)).error == "access_denied"
    clock.now += 901
    assert _refusal(lambda: state.poll_device(cli, expired.device_code)).error == "expired_token"
    assert (
        _refusal(lambda: state.decide_device(expired.user_code, "alice@example.org")).error == "expired_token"
    )


def test_grants_redeemed_counts_per_login_and_grant_type(state: IdentityState) -> None:
    state.count_redeemed("alice@example.org", "refresh_token")
    state.count_redeemed("alice@example.org", "refresh_token")
    assert state.grants_redeemed("Alice@example.org", "refresh_token") == 2
    assert state.grants_redeemed("alice@example.org", "authorization_code") == 0
