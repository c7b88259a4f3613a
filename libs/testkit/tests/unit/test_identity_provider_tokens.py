"""The local identity provider's tokens (issue #13, O4): PKCE, claims Dovecot and msal read."""

import base64
import hashlib
import json
import time

import jwt
import pytest
from mailbridge.testkit.identity_provider_tokens import (
    OUTLOOK_AUDIENCE,
    Person,
    SigningKey,
    TokenMinter,
    client_info,
    pkce_matches,
    resource_scopes,
    user_object_id,
)

IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
SMTP = "https://outlook.office.com/SMTP.Send"
ISSUER = "https://127.0.0.1:1/tenant-id/v2.0"


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    return TokenMinter(SigningKey.generate(), ISSUER)


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_pkce_s256_accepts_the_verifier_of_the_challenge_only() -> None:
    verifier = "a" * 43 + "-._~"
    assert pkce_matches(verifier, _challenge(verifier), "S256")
    assert not pkce_matches(verifier + "x", _challenge(verifier), "S256")
    assert not pkce_matches(None, _challenge(verifier), "S256")


def test_pkce_plain_unknown_method_and_no_challenge() -> None:
    assert pkce_matches("same", "same", "plain")
    assert pkce_matches("same", "same", None)
    assert not pkce_matches("same", "same", "S512")
    assert pkce_matches(None, None, None)  # no PKCE asked for: nothing to check


def test_resource_scopes_drop_the_openid_connect_ones_and_keep_order() -> None:
    requested = ["openid", SMTP, "profile", IMAP, "offline_access", SMTP]
    assert resource_scopes(requested) == (SMTP, IMAP)


def test_access_token_is_an_rs256_jwt_with_kid_typ_and_the_claims_dovecot_reads(minter: TokenMinter) -> None:
    person = Person("Alice@Example.org", "tenant-id")
    token, token_id = minter.access_token(person, (IMAP, SMTP), "app", 600, now=1_000_000)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": minter.key.key_id}
    claims = jwt.decode(token, minter.key.public_pem, algorithms=["RS256"], audience=OUTLOOK_AUDIENCE,
                        options={"verify_exp": False})  # fmt: skip
    assert claims["scope"] == f"{IMAP} {SMTP}"
    assert claims["email"] == claims["preferred_username"] == claims["upn"] == "Alice@Example.org"
    assert claims["sub"] == claims["oid"] == user_object_id("alice@example.org")
    assert (claims["iss"], claims["tid"], claims["jti"]) == (ISSUER, "tenant-id", token_id)
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1_000_000, 1_000_000, 1_000_600)


def test_id_token_is_for_the_client_and_echoes_the_nonce(minter: TokenMinter) -> None:
    token = minter.id_token(Person("bob@example.org", "t"), "the-client", "hashed-nonce", now=1_000_000)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["aud"], claims["nonce"], claims["preferred_username"]) == (
        "the-client",
        "hashed-nonce",
        "bob@example.org",
    )
    without = jwt.decode(
        minter.id_token(Person("bob@example.org", "t"), "c", None, 1), options={"verify_signature": False}
    )
    assert "nonce" not in without


def test_verified_claims_refuse_forged_and_expired_tokens(minter: TokenMinter) -> None:
    person = Person("carol@example.org", "t")
    now = int(time.time())
    valid, _ = minter.access_token(person, (IMAP,), "app", 600, now)
    expired, _ = minter.access_token(person, (IMAP,), "app", -60, now)
    forged, _ = TokenMinter(SigningKey.generate(), ISSUER).access_token(person, (IMAP,), "app", 600, now)
    assert (minter.verified_claims(valid) or {}).get("email") == "carol@example.org"
    assert minter.verified_claims(expired) is None
    assert minter.verified_claims(forged) is None
    assert minter.verified_claims("not.a.jwt") is None


def test_client_info_is_base64url_json_of_uid_and_utid() -> None:
    encoded = client_info("oid-1", "tid-2")
    assert "=" not in encoded
    decoded = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert decoded == {"uid": "oid-1", "utid": "tid-2"}


def test_jwk_carries_kid_and_verifies_the_key_signatures(minter: TokenMinter) -> None:
    jwk = minter.key.jwk()
    assert (jwk["kid"], jwk["kty"], jwk["alg"], jwk["use"]) == (minter.key.key_id, "RSA", "RS256", "sig")
    token, _ = minter.access_token(Person("dan@example.org", "t"), (IMAP,), "app", 600, int(time.time()))
    public = jwt.PyJWK(jwk).key
    jwt.decode(token, public, algorithms=["RS256"], audience=OUTLOOK_AUDIENCE, options={"verify_exp": False})


def test_the_private_key_is_in_no_repr(minter: TokenMinter) -> None:
    assert "PRIVATE" not in repr(minter.key)
