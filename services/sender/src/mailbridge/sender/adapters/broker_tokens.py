"""The `TokenSource` port over NATS request/reply to the OAuth broker (S2, O4): one request per
login, never through a stream; no answer within the timeout is an `unavailable` refusal."""

import uuid
from collections.abc import Callable

from mailbridge.common.oauth_requests import TokenReply, request_access_token
from nats.aio.client import Client


class BrokerTokens:
    def __init__(self, client: Callable[[], Client], timeout_s: float) -> None:
        self._client, self._timeout_s = client, timeout_s  # the client once NATS is connected

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        return await request_access_token(self._client(), account_id, self._timeout_s, rejected)
