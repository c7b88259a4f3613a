"""The records the broker's use-cases and ports exchange; secrets stay out of every repr."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailbridge.oauth_broker.providers import ProviderRow

JsonDict = dict[str, Any]


class ProviderUnavailable(Exception):
    """The identity provider did not answer usefully (unreachable, 5xx, timeout): try later."""


@dataclass(frozen=True)
class ProviderError:
    """The identity provider's OAuth error (RFC 6749 §5.2): `error` and its description."""

    error: str
    description: str


@dataclass(frozen=True)
class Tokens:
    """A successful token response, with the msal cache that now holds it."""

    cache_json: str = field(repr=False)  # refresh token inside: store encrypted, never log
    access_token: str = field(repr=False)
    expires_at: datetime
    id_token_claims: JsonDict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class AccountView:
    """An account as the broker sees it: its login, OAuth state and its server's provider."""

    account_id: uuid.UUID
    login: str
    oauth_state: str  # "disconnected" | "connected" | "needs_reconnect"
    oauth_reason: str | None
    provider: ProviderRow | None  # None: the server has no OAuth provider (S2)


@dataclass(frozen=True)
class Grant:
    """The account's stored msal token cache (decrypted) and when it was last refreshed."""

    cache_json: str = field(repr=False)
    refreshed_at: datetime
    revision: int


@dataclass(frozen=True)
class Custody:
    """What is known about one account's tokens: the account (None: no such account) and its grant."""

    account: AccountView | None
    grant: Grant | None


@dataclass(frozen=True)
class StoredFlow:
    """A started flow (msal's dict, decrypted), keyed by its state or device flow id."""

    state: str
    account_id: uuid.UUID
    kind: str  # "code" | "device"
    flow: JsonDict = field(repr=False)  # PKCE verifier, nonce, device code
    expires_at: datetime
