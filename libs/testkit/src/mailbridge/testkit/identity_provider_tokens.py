"""The local identity provider's tokens: RS256 JWTs shaped like Entra's, and the PKCE check.

Access tokens are what Dovecot's `passdb oauth2` validates (locally with `public_key_pem`, or by
introspection): header `typ: JWT` and `kid`; claims `iss`, `aud` (https://outlook.office.com),
`sub`/`oid`/`tid`, the login as `email`, `preferred_username` and `upn`, and `scope` — the
granted scopes, space-separated, without the OpenID Connect ones (Dovecot reads `scope`, not
`scp`, and requires every scope it is configured with). The id_token is for the client: its
`aud` is the client id and it echoes the authorization request's `nonce` unchanged (msal sends
the SHA-256 of its secret nonce and compares exactly that). Pure functions, no I/O.
"""

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

OUTLOOK_AUDIENCE = "https://outlook.office.com"
# Asked for at sign-in, never part of an access token's `scope` claim.
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
_USER_NAMESPACE = uuid.UUID("6f1d3c52-93c4-4b7e-9d0c-6f4d2b8a1e11")


def user_object_id(login: str) -> str:
    """A stable Entra-style object id (`oid`) for a login: the same user gets the same id."""
    return str(uuid.uuid5(_USER_NAMESPACE, login.lower()))


def resource_scopes(requested: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The scopes an access token carries: the requested ones minus OpenID Connect's, in order."""
    return tuple(dict.fromkeys(scope for scope in requested if scope not in OIDC_SCOPES))


def pkce_matches(verifier: str | None, challenge: str | None, method: str | None) -> bool:
    """RFC 7636 §4.6: without a challenge there is nothing to check; with one, the verifier must
    hash (S256) or equal (plain) to it."""
    if challenge is None:
        return True
    if verifier is None:
        return False
    if (method or "plain") == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    elif method in (None, "plain"):
        computed = verifier
    else:
        return False
    return hmac.compare_digest(computed, challenge)


def client_info(object_id: str, tenant_id: str) -> str:
    """Entra's `client_info` (base64url JSON of uid and utid): msal builds the cache's account,
    with home_account_id "uid.utid", from it."""
    raw = json.dumps({"uid": object_id, "utid": tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair with its key id; the private half never appears in a repr."""

    key_id: str
    private_pem: bytes = field(repr=False)
    public_pem: str

    @classmethod
    def generate(cls) -> "SigningKey":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(key_id=secrets.token_hex(8), private_pem=private, public_pem=public.decode("ascii"))

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517) for the provider's `jwks_uri`."""
        public_key = serialization.load_pem_public_key(self.public_pem.encode("ascii"))
        assert isinstance(public_key, rsa.RSAPublicKey)  # generate() makes RSA keys only
        entry = dict(RSAAlgorithm.to_jwk(public_key, as_dict=True))
        entry.update(kid=self.key_id, use="sig", alg="RS256")
        return entry

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.private_pem, algorithm="RS256", headers={"kid": self.key_id, "typ": "JWT"}
        )


@dataclass(frozen=True)
class Person:
    """Whom a token speaks for."""

    login: str
    tenant_id: str

    @property
    def object_id(self) -> str:
        return user_object_id(self.login)

    @property
    def display_name(self) -> str:
        return self.login.split("@", 1)[0]

    def claims(self) -> dict[str, Any]:
        return {
            "sub": self.object_id,
            "oid": self.object_id,
            "tid": self.tenant_id,
            "email": self.login,
            "preferred_username": self.login,
            "name": self.display_name,
        }


@dataclass(frozen=True)
class TokenMinter:
    """Signs access tokens and id_tokens for one issuer."""

    key: SigningKey
    issuer: str
    audience: str = OUTLOOK_AUDIENCE

    def access_token(
        self, person: Person, scopes: tuple[str, ...], client_id: str, lifetime_s: int, now: int
    ) -> tuple[str, str]:
        """A signed access token and its `jti` (by which revocation finds it)."""
        token_id = secrets.token_urlsafe(16)
        claims = person.claims() | {
            "iss": self.issuer,
            "aud": self.audience,
            "upn": person.login,
            "scope": " ".join(scopes),
            "appid": client_id,
            "azp": client_id,
            "ver": "2.0",
            "jti": token_id,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
        }
        return self.key.sign(claims), token_id

    def id_token(self, person: Person, client_id: str, nonce: str | None, now: int) -> str:
        claims = person.claims() | {
            "iss": self.issuer,
            "aud": client_id,
            "ver": "2.0",
            "iat": now,
            "nbf": now,
        }
        claims["exp"] = now + 3600
        if nonce is not None:
            claims["nonce"] = nonce
        return self.key.sign(claims)

    def verified_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this minter signed that has not expired, else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.key.public_pem, algorithms=["RS256"], audience=self.audience, issuer=self.issuer
            )
        except jwt.PyJWTError:
            return None
        return claims
