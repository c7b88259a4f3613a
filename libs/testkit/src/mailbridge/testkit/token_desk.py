"""A test double of the OAuth broker's token desk on the real NATS wire, for the tests of the
services that ask it for access tokens (fetcher and sender, S2, O4).

`TokenDesk` answers the broker's token subject in the broker's queue group with the next of its
`answers` (where the real broker process is not what a test is about) and keeps every request, so
a test counts token requests and sees the `rejected` fingerprint of a refused token.
`FixedTokens` grants (or refuses) alike every time, without NATS, for a test that hands a token
source straight to an adapter.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import nats
from mailbridge.common.oauth_requests import (
    QUEUE_GROUP,
    TOKEN_REQUEST_SUBJECT,
    AccessTokenGranted,
    AccessTokenRefused,
    AccessTokenRequest,
    Refusal,
    TokenReply,
)
from nats.aio.client import Client
from nats.aio.msg import Msg

Answer = Callable[[AccessTokenRequest], TokenReply]


def granted(token: str) -> Answer:
    """Grant `token`, good for an hour."""

    def answer(request: AccessTokenRequest) -> TokenReply:
        expires = datetime.now(UTC) + timedelta(hours=1)
        return AccessTokenGranted(account_id=request.account_id, access_token=token, expires_at=expires)

    return answer


def refused(error: Refusal, detail: str) -> Answer:
    """Refuse with `error` and the provider's words `detail`."""

    def answer(request: AccessTokenRequest) -> TokenReply:
        return AccessTokenRefused(account_id=request.account_id, error=error, detail=detail)

    return answer


class TokenDesk:
    """Answers token requests with `answers` in turn (the last one again when they run out)."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.requests: list[AccessTokenRequest] = []
        self.client: Client | None = None

    async def start(self, nats_url: str) -> "TokenDesk":
        self.client = await nats.connect(nats_url)
        await self.client.subscribe(TOKEN_REQUEST_SUBJECT, queue=QUEUE_GROUP, cb=self._answer)
        await self.client.flush()
        return self

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.drain()

    async def _answer(self, message: Msg) -> None:
        request = AccessTokenRequest.model_validate_json(message.data)
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        await message.respond(answer(request).model_dump_json().encode())


class FixedTokens:
    """A token source without NATS: refuses with `refusal`, or grants a token when None."""

    def __init__(self, refusal: Refusal | None = None) -> None:
        self._refusal = refusal

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        if self._refusal is None:
            expires = datetime.now(UTC) + timedelta(hours=1)
            return AccessTokenGranted(account_id=account_id, access_token="a-token", expires_at=expires)  # noqa: S106 - a stand-in
        return AccessTokenRefused(account_id=account_id, error=self._refusal, detail="as the test says")
