"""The token use-case (O4 custody): an account id → a valid access token, refreshed when less
than the margin remains or when a mail server refused exactly the current token.

Order of effects for a refresh: the per-account asyncio lock (one replica queues one database
transaction, not N) → the grant row taken in a transaction (other replicas wait) → re-read →
refresh only if still due → the rotated cache saved with TokenRefreshed → commit. Whoever waited
then finds the new token and answers it without calling the provider.

A grant the provider says is gone (`invalid_grant`…) is deleted and the account marked
needs_reconnect with the provider's reason; later requests are refused at once from that state,
never by asking the provider again. A provider that does not answer leaves everything as it was;
the asker then gets the current token while it is still valid (and not the one it refused), else
`unavailable`.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbridge.common.db.types import utcnow
from mailbridge.common.metrics import TOKEN_REFRESHES
from mailbridge.common.oauth_requests import AccessTokenGranted, AccessTokenRefused, Refusal, TokenReply
from mailbridge.oauth_broker.decisions import (
    CachedToken,
    current_access_token,
    grant_gone,
    provider_reason,
    refresh_due,
    still_usable,
)
from mailbridge.oauth_broker.model import (
    AccountView,
    Custody,
    Grant,
    ProviderError,
    ProviderUnavailable,
    Tokens,
)
from mailbridge.oauth_broker.ports import GrantStore, IdentityProvider, LockedGrant
from mailbridge.oauth_broker.providers import InstallationApp, provider_config

Due = Callable[[CachedToken | None, Grant], bool]
Fallback = Callable[[CachedToken], bool]  # may this token be answered when the refresh fails?


@dataclass(frozen=True)
class TokenDeps:
    grants: GrantStore
    provider: IdentityProvider
    installation: InstallationApp
    refresh_margin: timedelta
    clock: Callable[[], datetime] = utcnow


class TokenKeeper:
    """Answers token requests and keeps grants alive; holds this replica's per-account locks."""

    def __init__(self, deps: TokenDeps) -> None:
        self._deps = deps
        self._locks: dict[uuid.UUID, tuple[asyncio.Lock, int]] = {}

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        now, margin = self._deps.clock(), self._deps.refresh_margin
        custody = await self._deps.grants.custody(account_id)
        refused = _without_grant(account_id, custody)
        if refused is not None:
            return refused
        assert custody.grant is not None
        token = current_access_token(custody.grant.cache_json)
        if token is not None and not refresh_due(token, now, margin, rejected):
            return _granted(account_id, token)
        return await self._refresh(
            account_id,
            due=lambda current, _grant: refresh_due(current, now, margin, rejected),
            fallback=lambda current: still_usable(current, now, rejected),
        )

    def now(self) -> datetime:
        return self._deps.clock()

    async def keep_alive(self, account_id: uuid.UUID, refreshed_before: datetime) -> TokenReply:
        """Refresh a grant not refreshed since `refreshed_before` (the background refresher)."""
        return await self._refresh(
            account_id,
            due=lambda _token, grant: grant.refreshed_at < refreshed_before,
            fallback=lambda _token: False,
        )

    async def _refresh(self, account_id: uuid.UUID, due: Due, fallback: Fallback) -> TokenReply:
        async with self._account_lock(account_id), self._deps.grants.locked(account_id) as locked:
            custody = locked.custody
            refused = _without_grant(account_id, custody)
            if refused is not None:
                return refused
            assert custody.grant is not None
            assert custody.account is not None
            token = current_access_token(custody.grant.cache_json)
            if token is not None and not due(token, custody.grant):
                return _granted(account_id, token)
            reply = await self._refreshed(locked, custody.account, custody.grant)
            if (
                isinstance(reply, AccessTokenRefused)
                and reply.retryable
                and token is not None
                and fallback(token)
            ):
                return _granted(account_id, token)  # the provider is away, and this token still works
            return reply

    async def _refreshed(self, locked: LockedGrant, account: AccountView, grant: Grant) -> TokenReply:
        """Ask the provider; save the rotated cache, or revoke a grant that is gone."""
        account_id = account.account_id
        if account.provider is None:
            return _refused(
                account_id, Refusal.NOT_CONNECTED, "the account's server has no OAuth provider (S2)"
            )
        config = provider_config(account.provider, self._deps.installation)
        if isinstance(config, str):
            return _refused(account_id, Refusal.UNAVAILABLE, config)
        try:
            result = await self._deps.provider.refresh(config, grant.cache_json)
        except ProviderUnavailable as error:
            TOKEN_REFRESHES.labels("unavailable").inc()
            return _refused(account_id, Refusal.UNAVAILABLE, str(error))
        TOKEN_REFRESHES.labels(refresh_label(result)).inc()
        if isinstance(result, ProviderError):
            if not grant_gone(result):
                detail = f"the identity provider refused the refresh: {provider_reason(result)}"
                return _refused(account_id, Refusal.UNAVAILABLE, detail)
            reason = provider_reason(result)
            await locked.revoke(reason)
            return _refused(account_id, Refusal.NEEDS_RECONNECT, _reconnect(reason))
        await locked.save(result)
        return AccessTokenGranted(
            account_id=account_id, access_token=result.access_token, expires_at=result.expires_at
        )

    @asynccontextmanager
    async def _account_lock(self, account_id: uuid.UUID) -> AsyncIterator[None]:
        lock, users = self._locks.get(account_id, (asyncio.Lock(), 0))
        self._locks[account_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[account_id]
            if users == 1:
                del self._locks[account_id]
            else:
                self._locks[account_id] = (lock, users - 1)


def _without_grant(account_id: uuid.UUID, custody: Custody) -> AccessTokenRefused | None:
    """The refusal when there is nothing to refresh; None when a grant is held."""
    if custody.account is None:
        return _refused(account_id, Refusal.NOT_CONNECTED, "no such mail account")
    if custody.grant is not None:
        return None
    if custody.account.oauth_state == "needs_reconnect":
        return _refused(
            account_id,
            Refusal.NEEDS_RECONNECT,
            _reconnect(custody.account.oauth_reason or "the grant is gone"),
        )
    return _refused(
        account_id,
        Refusal.NOT_CONNECTED,
        "the OAuth broker holds no token for this account: connect the account (O4) first",
    )


def _reconnect(reason: str) -> str:
    return f"the account must be connected again (O4): {reason}"


def _granted(account_id: uuid.UUID, token: CachedToken) -> AccessTokenGranted:
    return AccessTokenGranted(
        account_id=account_id, access_token=token.access_token, expires_at=token.expires_at
    )


def _refused(account_id: uuid.UUID, error: Refusal, detail: str) -> AccessTokenRefused:
    return AccessTokenRefused(account_id=account_id, error=error, detail=detail)


def refresh_label(result: Tokens | ProviderError) -> str:
    """The outcome label of mailbridge_token_refreshes_total: refreshed, grant_gone (the account
    needs a reconnect) or refused (the provider's other errors, tried again later)."""
    if not isinstance(result, ProviderError):
        return "refreshed"
    return "grant_gone" if grant_gone(result) else "refused"
