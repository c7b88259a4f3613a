"""Dovecot 2.3's `passdb oauth2` for the test stack: which token a login must bring (O4, S2).

One passdb per protocol, each in a `protocol <name> { passdb { … } }` block of its own, because
Dovecot requires *every* scope a passdb is configured with and a Microsoft 365 token carries only
those it was granted: IMAP wants `…/IMAP.AccessAsUser.All`, POP3 `…/POP.AccessAsUser.All`, SMTP
AUTH (Postfix asks Dovecot with the service name `smtp`) `…/SMTP.Send`. Dovecot reads the
`scope` claim (space-separated), not Entra's `scp`. The user is the token's `email` claim
(`username_attribute`); it must equal the login inside the XOAUTH2 string, else "Username 'a'
did not match 'b'". There is no top-level oauth2 passdb, so a token that fails one protocol's
check never falls through to another's.

Two ways to validate (`ValidationMode`):
- `local`: the JWT's RS256 signature with the provider's public key, `exp`/`nbf`/`iat`, `iss`
  (`issuers`) and `aud` (`client_id` — Dovecot's name for the audience it demands). Dovecot
  finds the key in a dict at `<azp>/<alg>/<kid>` (2.3.19: `azp` defaults to `default`, `kid` to
  `default`; `/` and `%` in either are written `%2f` and `%25`). Entra's tokens, and the local
  identity provider's, carry `azp` = the client id, so the key is written under `default` and
  under every name in `authorized_parties` (more can be added while Dovecot runs). Revocation
  is invisible in this mode.
- `introspection`: an RFC 7662 POST (`token=…`, form-encoded, no client authentication unless
  the URL carries `user:password@`, which Dovecot sends as HTTP Basic) for every login; the
  reply must say `"active": true` and carry `email` and `scope`. Sees revocation at once
  (Dovecot's auth cache is off). TLS to the endpoint trusts `ca_file` only.

`auth_debug` stays off (it logs whole tokens); the failure reason is logged at `auth_verbose`
("oauth2 failed: Local validation failed: Token has expired", "…: Bad signature", "…: RS256 key
'k' not found", "…: configured scope 'S' missing from token scope 'T'", "Introspection failed:
Provided token is not valid"), never the token.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

OUTLOOK_RESOURCE = "https://outlook.office.com"
IMAP_SCOPE = f"{OUTLOOK_RESOURCE}/IMAP.AccessAsUser.All"
POP_SCOPE = f"{OUTLOOK_RESOURCE}/POP.AccessAsUser.All"
SMTP_SCOPE = f"{OUTLOOK_RESOURCE}/SMTP.Send"
PROTOCOL_SCOPES: Mapping[str, str] = {"imap": IMAP_SCOPE, "pop3": POP_SCOPE, "smtp": SMTP_SCOPE}
"""Dovecot's service name of each protocol → the one scope its passdb demands."""
MECHANISMS = ("xoauth2", "oauthbearer")
DEFAULT_PARTY = "default"


class ValidationMode(StrEnum):
    LOCAL = "local"
    INTROSPECTION = "introspection"


class TokenIssuer(Protocol):
    """What the stack needs to know of an identity provider (`LocalIdentityProvider` fits)."""

    @property
    def issuer(self) -> str: ...
    @property
    def signing_key_id(self) -> str: ...
    @property
    def public_key_pem(self) -> str: ...
    @property
    def introspection_url(self) -> str: ...
    @property
    def ca_file(self) -> Path: ...


@dataclass(frozen=True)
class OAuth2Validation:
    """How Dovecot decides that a bearer token is good: whose key, which issuer, where to ask."""

    issuer: str
    key_id: str
    public_key_pem: str
    introspection_url: str | None = None
    ca_file: Path | None = None
    """The CA bundle Dovecot trusts for an `https` introspection URL."""
    audience: str | None = OUTLOOK_RESOURCE
    """`aud` a token must carry in local mode; None: not checked."""
    username_attribute: str = "email"
    authorized_parties: tuple[str, ...] = ()
    """`azp` values (client ids) whose tokens local mode accepts besides tokens without `azp`."""

    @classmethod
    def of(cls, provider: TokenIssuer, authorized_parties: tuple[str, ...] = ()) -> "OAuth2Validation":
        return cls(provider.issuer, provider.signing_key_id, provider.public_key_pem,
                   provider.introspection_url, provider.ca_file,
                   authorized_parties=authorized_parties)  # fmt: skip


@dataclass(frozen=True)
class OAuth2Paths:
    """Where the passdbs' files live: one args file per protocol and the key dict's folder."""

    folder: Path
    keys: Path

    @classmethod
    def under(cls, folder: Path) -> "OAuth2Paths":
        return cls(folder, folder / "keys")

    def passdb_args(self, protocol: str) -> Path:
        return self.folder / f"{protocol}.conf.ext"


def dict_identifier(name: str) -> str:
    """An `azp` or `kid` as Dovecot 2.3 spells it in a dict key: '%' and '/' escaped."""
    return name.replace("%", "%25").replace("/", "%2f")


def key_file(validation: OAuth2Validation, party: str) -> Path:
    """The key dict's entry for tokens whose `azp` is `party`, relative to `OAuth2Paths.keys`."""
    return Path(dict_identifier(party), "RS256", dict_identifier(validation.key_id))


def passdb_args(validation: OAuth2Validation, mode: ValidationMode, scope: str, paths: OAuth2Paths) -> str:
    """One protocol's `dovecot-oauth2.conf.ext`."""
    lines = [f"username_attribute = {validation.username_attribute}", f"scope = {scope}"]
    if mode is ValidationMode.LOCAL:
        lines += ["introspection_mode = local", f"local_validation_key_dict = fs:posix:prefix={paths.keys}/",
                  f"issuers = {validation.issuer}"]  # fmt: skip
        lines += [f"client_id = {validation.audience}"] if validation.audience else []
    else:
        if not validation.introspection_url:
            raise ValueError("introspection mode needs the provider's introspection_url")
        lines += ["introspection_mode = post", f"introspection_url = {validation.introspection_url}",
                  "active_attribute = active", "active_value = true"]  # fmt: skip
    lines += [f"tls_ca_cert_file = {validation.ca_file}"] if validation.ca_file else []
    return "".join(f"{line}\n" for line in lines)


def protocol_passdbs(paths: OAuth2Paths) -> str:
    """dovecot.conf's blocks: each protocol's oauth2 passdb, for the bearer mechanisms only."""
    mechanisms = " ".join(MECHANISMS)
    return "".join(
        f"protocol {protocol} {{\n  passdb {{\n    driver = oauth2\n    mechanisms = {mechanisms}\n"
        f"    args = {paths.passdb_args(protocol)}\n  }}\n}}\n"
        for protocol in PROTOCOL_SCOPES
    )
