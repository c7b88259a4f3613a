"""The broker's pure rules (O4, O1): the current token in an msal cache, when to refresh, who
signed in, what a provider's error means, and which msal configuration a provider row gives."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from mailbridge.common.oauth_providers import MICROSOFT365
from mailbridge.common.oauth_requests import FlowRefusal, token_fingerprint
from mailbridge.oauth_broker.decisions import (
    CachedToken,
    current_access_token,
    device_refusal,
    grant_gone,
    provider_reason,
    refresh_due,
    same_mailbox,
    signed_in_mailbox,
)
from mailbridge.oauth_broker.model import ProviderError
from mailbridge.oauth_broker.providers import (
    InstallationApp,
    ProviderConfig,
    ProviderRow,
    msal_scopes,
    provider_config,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MARGIN = timedelta(minutes=5)


def cache_with(*tokens: tuple[str, datetime]) -> str:
    entries = {
        f"key-{n}": {
            "secret": secret,
            "expires_on": str(int(expires.timestamp())),
            "credential_type": "AccessToken",
        }
        for n, (secret, expires) in enumerate(tokens)
    }
    return json.dumps({"AccessToken": entries, "RefreshToken": {"rt": {"secret": "refresh"}}})


def test_the_current_token_is_the_one_that_lives_longest() -> None:
    cache = cache_with(("old", NOW + timedelta(minutes=1)), ("new", NOW + timedelta(hours=1)))
    assert current_access_token(cache) == CachedToken("new", NOW + timedelta(hours=1))


@pytest.mark.parametrize("cache", ["", "not json", "[]", '{"AccessToken": {"k": {"secret": "x"}}}', "{}"])
def test_a_cache_without_a_usable_access_token_has_none(cache: str) -> None:
    assert current_access_token(cache) is None


def test_a_token_is_refreshed_when_missing_or_less_than_the_margin_remains() -> None:
    assert refresh_due(None, NOW, MARGIN, None)
    assert refresh_due(CachedToken("t", NOW + MARGIN - timedelta(seconds=1)), NOW, MARGIN, None)
    assert not refresh_due(CachedToken("t", NOW + MARGIN + timedelta(seconds=1)), NOW, MARGIN, None)


def test_a_refused_token_is_refreshed_only_when_it_is_the_current_one() -> None:
    token = CachedToken("current", NOW + timedelta(hours=1))
    assert refresh_due(token, NOW, MARGIN, token_fingerprint("current"))
    assert not refresh_due(token, NOW, MARGIN, token_fingerprint("an older one"))
    assert "current" not in repr(token)


def test_the_signed_in_mailbox_prefers_preferred_username_then_email_then_upn() -> None:
    assert signed_in_mailbox({"preferred_username": "a@x", "email": "b@x", "upn": "c@x"}) == "a@x"
    assert signed_in_mailbox({"email": "b@x", "upn": "c@x"}) == "b@x"
    assert signed_in_mailbox({"upn": "c@x", "preferred_username": " "}) == "c@x"
    assert signed_in_mailbox({}) is None


def test_the_mailbox_is_compared_case_insensitively() -> None:
    assert same_mailbox("Anna.Meier@Contoso.COM", "anna.meier@contoso.com")
    assert not same_mailbox("bob@contoso.com", "anna.meier@contoso.com")
    assert not same_mailbox(None, "anna.meier@contoso.com")


def test_only_a_lost_grant_means_reconnect() -> None:
    assert grant_gone(ProviderError("invalid_grant", "AADSTS50173: the grant was revoked"))
    assert grant_gone(ProviderError("interaction_required", "consent withdrawn"))
    assert not grant_gone(ProviderError("temporarily_unavailable", "try later"))
    assert not grant_gone(ProviderError("invalid_client", "bad secret"))


def test_the_providers_reason_is_printable_and_fits_the_column() -> None:
    reason = provider_reason(ProviderError("invalid_grant", "revoked\r\n" + "x" * 600))
    assert len(reason) == 500
    assert reason.startswith("revoked\\r\\n")
    assert provider_reason(ProviderError("invalid_grant", "")) == "invalid_grant"


@pytest.mark.parametrize(
    ("error", "refusal"),
    [
        ("authorization_pending", None),
        ("slow_down", None),
        ("expired_token", FlowRefusal.FLOW_EXPIRED),
        ("access_denied", FlowRefusal.CONSENT_DENIED),
        ("authorization_declined", FlowRefusal.CONSENT_DENIED),
        ("invalid_grant", FlowRefusal.CODE_REJECTED),
    ],
)
def test_a_device_polls_error_is_pending_or_a_refusal(error: str, refusal: FlowRefusal | None) -> None:
    assert device_refusal(ProviderError(error, "")) == refusal


def row(**fields: object) -> ProviderRow:
    values: dict[str, object] = {
        "server_type": "microsoft365_email", "use_default_settings": True, "authority": None, "tenant": None,
        "client_id": None, "client_secret": None, "scopes": (),
    }  # fmt: skip
    return ProviderRow(**(values | fields))  # type: ignore[arg-type]


def test_msal_reserved_scopes_are_left_to_msal() -> None:
    assert msal_scopes(MICROSOFT365.scopes) == MICROSOFT365.scopes[:3]
    assert msal_scopes(("openid", "profile", "offline_access", "IMAP")) == ("IMAP",)


def test_default_settings_use_the_installations_app_registration() -> None:
    config = provider_config(row(), InstallationApp("installation-app", "installation-secret"))
    assert config == ProviderConfig(
        "installation-app", "installation-secret", "https://login.microsoftonline.com/organizations",
        oidc=False, scopes=MICROSOFT365.scopes[:3],
    )  # fmt: skip
    assert "installation-secret" not in repr(config)


def test_default_settings_without_an_installation_app_name_both_settings() -> None:
    why = provider_config(row(), InstallationApp())
    assert isinstance(why, str)
    assert "MAILBRIDGE_OAUTH_M365_CLIENT_ID" in why
    assert "MAILBRIDGE_OAUTH_M365_CLIENT_SECRET" in why


def test_a_providers_own_app_and_tenant_win() -> None:
    config = provider_config(
        row(
            client_id="own",
            client_secret="s",
            tenant="contoso.onmicrosoft.com",
            scopes=("x", "offline_access"),
        ),
        InstallationApp("installation-app", "installation-secret"),
    )
    assert config == ProviderConfig(
        "own", "s", "https://login.microsoftonline.com/contoso.onmicrosoft.com", False, ("x",)
    )


def test_a_generic_oidc_provider_uses_its_issuer_as_oidc_authority() -> None:
    config = provider_config(
        row(server_type="generic_oidc", use_default_settings=False, authority="https://idp.example/realm",
            client_id="app", scopes=("openid", "mail")),
        InstallationApp("installation-app"),
    )  # fmt: skip
    assert config == ProviderConfig("app", None, "https://idp.example/realm", True, ("mail",))


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"server_type": "generic_oidc", "use_default_settings": False, "client_id": "a"}, "no authority"),
        ({"server_type": "generic_oidc", "authority": "https://i/x", "scopes": ("m",)}, "no client id"),
        ({"server_type": "ldap"}, "not supported"),
        ({"server_type": "generic_oidc", "authority": "https://i/x", "client_id": "a"}, "no scope"),
    ],
)
def test_an_unusable_provider_says_why(fields: dict[str, object], words: str) -> None:
    why = provider_config(row(**fields), InstallationApp())
    assert isinstance(why, str)
    assert words in why
