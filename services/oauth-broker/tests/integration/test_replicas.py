"""Two broker processes (`python -m mailbridge.oauth_broker`) on one database, asked for one
account's token at once: one refresh at the identity provider, one token for every asker
(the grant row taken by an UPDATE first; on SQLite the database's write lock)."""

import asyncio

from mailbridge.common.oauth_requests import (
    AccessTokenGranted,
    request_access_token,
)
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_broker_process import BrokerProcess, ConnectedAccount
from mailbridge.testkit.oauth_fixtures import OAuthUser
from nats.aio.client import Client


async def test_two_replicas_asked_at_once_refresh_once(
    connected_account: ConnectedAccount, broker_process: BrokerProcess, client: Client, oauth_user: OAuthUser,
    identity_provider: LocalIdentityProvider, short_lived_tokens: None,
) -> None:  # fmt: skip
    await asyncio.gather(broker_process(), broker_process())
    account = await connected_account()  # a 60 s token: due
    identity_provider.access_token_lifetime_s = 3600  # the refreshed one is not
    replies = await asyncio.gather(*(request_access_token(client, account, 30.0) for _ in range(24)))
    tokens = {reply.access_token for reply in replies if isinstance(reply, AccessTokenGranted)}
    assert len(tokens) == 1, replies
    assert identity_provider.grants_redeemed(oauth_user.login, "refresh_token") == 1
