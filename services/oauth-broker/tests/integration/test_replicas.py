"""Two broker processes (`python -m mailbridge.oauth_broker`) on one database, asked for one
account's token at once: one refresh at the identity provider, one token for every asker
(the grant row taken by an UPDATE first; on SQLite the database's write lock)."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from mailbridge.common.oauth_requests import (
    AccessTokenGranted,
    CallbackReply,
    ConnectFinished,
    request_access_token,
)
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_fixtures import OAuthClient, OAuthUser
from nats.aio.client import Client

AddOAuthAccount = Callable[[OAuthUser, OAuthClient], Awaitable[uuid.UUID]]
Connect = Callable[[uuid.UUID, OAuthUser], Awaitable[CallbackReply]]
BrokerProcess = Callable[[], Awaitable[asyncio.subprocess.Process]]


async def test_two_replicas_asked_at_once_refresh_once(
    broker_process: BrokerProcess, client: Client, add_oauth_account: AddOAuthAccount, connect: Connect,
    oauth_user: OAuthUser, oauth_client: OAuthClient, identity_provider: LocalIdentityProvider,
    short_lived_tokens: None,
) -> None:  # fmt: skip
    await asyncio.gather(broker_process(), broker_process())
    account = await add_oauth_account(oauth_user, oauth_client)
    assert isinstance(await connect(account, oauth_user), ConnectFinished)  # a 60 s token: due
    identity_provider.access_token_lifetime_s = 3600  # the refreshed one is not
    replies = await asyncio.gather(*(request_access_token(client, account, 30.0) for _ in range(24)))
    tokens = {reply.access_token for reply in replies if isinstance(reply, AccessTokenGranted)}
    assert len(tokens) == 1, replies
    assert identity_provider.grants_redeemed(oauth_user.login, "refresh_token") == 1
