"""What the broker's use-cases need; adapters implement it (SQL, msal), unit tests fake it."""

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from mailbridge.common.oauth_requests import TokenReply
from mailbridge.oauth_broker.model import Custody, JsonDict, ProviderError, StoredFlow, Tokens
from mailbridge.oauth_broker.providers import ProviderConfig


class LockedGrant(Protocol):
    """One account's grant, taken for a refresh: no other replica refreshes it until the end
    of the `GrantStore.locked` block, which commits what was saved or revoked here."""

    @property
    def custody(self) -> Custody: ...

    async def save(self, tokens: Tokens) -> None:
        """Store the (rotated) cache encrypted, with TokenRefreshed in the same transaction."""

    async def revoke(self, reason: str) -> None:
        """The grant is gone: delete it, mark the account needs_reconnect with `reason`, and
        publish AccountStateChanged in the same transaction."""


class GrantStore(Protocol):
    async def custody(self, account_id: uuid.UUID) -> Custody:
        """A plain read, no lock: the fast path of a token request."""

    def locked(self, account_id: uuid.UUID) -> AbstractAsyncContextManager[LockedGrant]:
        """A transaction that takes the grant row first (row lock on PostgreSQL, write lock on
        SQLite), then re-reads it; commits on a normal exit."""

    async def connect(self, account_id: uuid.UUID, tokens: Tokens) -> None:
        """Store `tokens`' cache as the account's grant (replacing any), the account connected,
        AccountStateChanged(ok) and TokenRefreshed, in one transaction."""

    async def stale(self, refreshed_before: datetime, limit: int) -> list[uuid.UUID]:
        """Accounts whose grant was last refreshed before `refreshed_before`, oldest first."""


class FlowStore(Protocol):
    async def add(self, flow: StoredFlow, redirect_uri: str | None) -> None: ...

    async def get(self, state: str) -> StoredFlow | None: ...

    async def take(self, state: str) -> bool:
        """Delete the flow; True for the one caller that deleted it (a replay gets False)."""

    async def purge_expired(self, now: datetime) -> int: ...


class IdentityProvider(Protocol):
    """The provider's endpoints through msal. Every call raises ProviderUnavailable when the
    provider cannot be reached, answers 5xx, or takes longer than the timeout."""

    async def refresh(self, provider: ProviderConfig, cache_json: str) -> Tokens | ProviderError: ...

    async def start_code_flow(self, provider: ProviderConfig, redirect_uri: str, login_hint: str) -> JsonDict:
        """msal's auth code flow: state, PKCE verifier, nonce and `auth_uri`."""

    async def redeem_code(
        self, provider: ProviderConfig, flow: JsonDict, params: dict[str, str]
    ) -> Tokens | ProviderError: ...

    async def start_device_flow(self, provider: ProviderConfig) -> JsonDict | ProviderError: ...

    async def poll_device_flow(self, provider: ProviderConfig, flow: JsonDict) -> Tokens | ProviderError:
        """One poll of the token endpoint (never msal's blocking loop)."""


class TokenSource(Protocol):
    """Where the token request's answer comes from (tokens.TokenKeeper)."""

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply: ...
