"""How a fetch logs in (A3, S2): with the account's password, or with an OAuth access token from
the broker over XOAUTH2 (O4). Every login goes through `signed_in`: a scheduled, manual or test
fetch (T1, O5) and a change applied to a message on the server.

Order of effects for an OAuth account: ask the broker for a token (a refusal ends the fetch
before any connection is made) → log in with it → when the mail server refuses it
(`TokenRejected`), ask once more with the refused token's fingerprint (the broker refreshes once,
however many workers were refused at the same time) and log in once more, on a new connection
(the refused one is dropped) → refused again: a transient failure quoting the server. Never a
loop: at most two logins and two token requests per fetch.

The broker's refusals as data (`broker_refusal`): `needs_reconnect` and `not_connected` wait for
a person to connect the account (recorded, acked, not retried); `unavailable` is retried like a
server that does not answer; `bad_request` is a bug, recorded as permanent.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TypeVar

from mailbridge.common.oauth_requests import (
    AccessTokenGranted,
    AccessTokenRefused,
    Refusal,
    token_fingerprint,
)
from mailbridge.fetcher.failures import FetchFailure, TokenRejected, needs_connect, permanent, transient
from mailbridge.fetcher.model import AccountConfig, Credentials, Mechanism
from mailbridge.fetcher.ports import TokenSource

Session = TypeVar("Session")
Connect = Callable[[Credentials], AbstractAsyncContextManager[Session]]


def broker_refusal(refused: AccessTokenRefused) -> FetchFailure:
    """What a refusal from the broker makes of the fetch; the reason carries the broker's detail."""
    if refused.error in (Refusal.NEEDS_RECONNECT, Refusal.NOT_CONNECTED):
        word = "connected again" if refused.error is Refusal.NEEDS_RECONNECT else "connected"
        return needs_connect(f"the account must be {word} at its OAuth provider (O4): {refused.detail}")
    if refused.error is Refusal.UNAVAILABLE:
        return transient(f"no OAuth access token for now: {refused.detail}")
    return permanent(f"the OAuth broker refused the token request ({refused.error}): {refused.detail}")


async def credentials(
    account: AccountConfig, tokens: TokenSource, rejected: Credentials | None = None
) -> Credentials:
    """The password (A3), or a token for the OAuth account (after `rejected`: a newer one)."""
    if not account.uses_oauth:
        if account.password is None:
            raise permanent("the account has no password (A3)")
        return Credentials(account.login, account.password)
    fingerprint = None if rejected is None else token_fingerprint(rejected.secret)
    reply = await tokens.access_token(account.account_id, fingerprint)
    if isinstance(reply, AccessTokenGranted):
        return Credentials(account.login, reply.access_token, Mechanism.XOAUTH2)
    raise broker_refusal(reply)


@asynccontextmanager
async def signed_in(
    account: AccountConfig, tokens: TokenSource, connect: Connect[Session]
) -> AsyncIterator[Session]:
    """A session logged in as the account, with one more token after a refused one."""
    first = await credentials(account, tokens)
    async with AsyncExitStack() as stack:
        try:
            session = await stack.enter_async_context(connect(first))
        except TokenRejected:
            second = await credentials(account, tokens, rejected=first)
            try:
                session = await stack.enter_async_context(connect(second))
            except TokenRejected as again:
                raise transient(f"{again.reason} (a freshly refreshed token too)") from again
        yield session
