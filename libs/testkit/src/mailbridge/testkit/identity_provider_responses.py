"""What the local identity provider's token endpoint answers, and what introspection sees.

One successful token request (authorization_code, refresh_token or the device code grant)
answers like Entra's v2.0 endpoint: `token_type` Bearer, `access_token`, `expires_in`,
`ext_expires_in`, `scope` (the access token's scopes), an `id_token` when `openid` was asked
for, a `refresh_token` only for a grant with `offline_access`, and `client_info` (uid = the
user's oid, utid = the tenant) when the request carries `client_info=1` — msal always sends it
and makes the cache's account (home_account_id "oid.tid") from it. Every access token is
recorded by its `jti`, so `revoke` can make introspection answer inactive.
"""

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailbridge.testkit.identity_provider_devices import DEVICE_CODE_GRANT
from mailbridge.testkit.identity_provider_errors import OAuthError
from mailbridge.testkit.identity_provider_grants import Client, Grant, IdentityState
from mailbridge.testkit.identity_provider_tokens import (
    Person,
    SigningKey,
    TokenMinter,
    client_info,
    resource_scopes,
)


@dataclass(frozen=True)
class IssuingProvider:
    """Everything the routes need: the state, the key, the URLs."""

    state: IdentityState
    key: SigningKey
    base_url: str
    tenant_id: str

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/v2.0"

    @property
    def minter(self) -> TokenMinter:
        return TokenMinter(self.key, self.issuer)

    def mint_access_token(self, login: str, scopes: tuple[str, ...], client_id: str, lifetime_s: int) -> str:
        token, token_id = self.minter.access_token(
            Person(login, self.tenant_id),
            resource_scopes(scopes),
            client_id,
            lifetime_s,
            int(time.time()),
        )
        self.state.record_access_token(token_id, login)
        return token

    def active_claims(self, token: str) -> dict[str, Any] | None:
        """RFC 7662: the claims of a valid, unexpired, unrevoked access token, else None."""
        claims = self.minter.verified_claims(token)
        if claims is None or not self.state.access_token_active(
            str(claims.get("jti")), str(claims.get("email"))
        ):
            return None
        return claims | {"username": claims["email"], "client_id": claims.get("appid")}


def _client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str | None]:
    """client_secret_post, or client_secret_basic (RFC 6749 §2.3.1), or a public client."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise OAuthError("invalid_client", "AADSTS7000216: Malformed client credentials.", 401) from error
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret")


def _grant(provider: IssuingProvider, client: Client, form: Mapping[str, str]) -> tuple[str, Grant]:
    grant_type = form.get("grant_type", "")
    state = provider.state
    if grant_type == "authorization_code":
        grant = state.redeem_code(
            client, form.get("code", ""), form.get("redirect_uri"), form.get("code_verifier")
        )
    elif grant_type == "refresh_token":
        grant = state.redeem_refresh(
            client, form.get("refresh_token", ""), tuple(form.get("scope", "").split())
        )
    elif grant_type == DEVICE_CODE_GRANT:
        grant = state.poll_device(client, form.get("device_code", ""))
    else:
        raise OAuthError(
            "unsupported_grant_type", f"AADSTS70003: The grant type '{grant_type}' is not supported."
        )
    return grant_type, grant


def token_response(
    provider: IssuingProvider, form: Mapping[str, str], authorization: str | None
) -> dict[str, Any]:
    """The answer to one token request, or an OAuthError."""
    client = provider.state.authenticate_client(*_client_credentials(form, authorization))
    grant_type, grant = _grant(provider, client, form)
    lifetime = provider.state.access_token_lifetime_s
    granted = resource_scopes(grant.token_scopes)
    answer: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(granted),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": provider.mint_access_token(grant.login, granted, client.client_id, lifetime),
    }
    person = Person(grant.login, provider.tenant_id)
    if "openid" in grant.token_scopes:
        answer["id_token"] = provider.minter.id_token(person, client.client_id, grant.nonce, int(time.time()))
    if grant.offline:
        answer["refresh_token"] = provider.state.issue_refresh(grant)
    if form.get("client_info") == "1":
        answer["client_info"] = client_info(person.object_id, provider.tenant_id)
    provider.state.count_redeemed(grant.login, grant_type)
    return answer
