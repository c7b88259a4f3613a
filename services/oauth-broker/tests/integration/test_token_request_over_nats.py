"""The broker on a real NATS: every request gets its typed reply within the requester's timeout
(a body that does not parse too), and SIGTERM stops the process cleanly."""

import asyncio
import signal
import uuid
from collections.abc import Awaitable, Callable

import pytest
from faststream import FastStream
from mailbridge.common.oauth_requests import (
    CALLBACK_REQUEST_SUBJECT,
    CONNECT_REQUEST_SUBJECT,
    DEVICE_POLL_SUBJECT,
    DEVICE_START_SUBJECT,
    TOKEN_REPLY,
    TOKEN_REQUEST_SUBJECT,
    AccessTokenRefused,
    ConnectRefused,
    FlowRefusal,
    Refusal,
)
from nats.aio.client import Client
from nats.errors import NoRespondersError

REQUEST_TIMEOUT_S = 5.0


async def _token_refusal(client: Client, body: bytes) -> AccessTokenRefused:
    message = await client.request(TOKEN_REQUEST_SUBJECT, body, timeout=REQUEST_TIMEOUT_S)
    reply = TOKEN_REPLY.validate_json(message.data)
    assert isinstance(reply, AccessTokenRefused)
    return reply


async def test_every_subject_answers_a_typed_refusal(broker: FastStream, client: Client) -> None:
    account = uuid.uuid4()
    reply = await _token_refusal(client, f'{{"account_id": "{account}"}}'.encode())
    assert (reply.account_id, reply.error) == (account, Refusal.NOT_CONNECTED)
    bad = await _token_refusal(client, b"not json")
    assert (bad.account_id, bad.error) == (None, Refusal.BAD_REQUEST)
    for subject in (
        CONNECT_REQUEST_SUBJECT,
        CALLBACK_REQUEST_SUBJECT,
        DEVICE_START_SUBJECT,
        DEVICE_POLL_SUBJECT,
    ):
        message = await client.request(subject, b"[1, 2]", timeout=REQUEST_TIMEOUT_S)
        refused = ConnectRefused.model_validate_json(message.data)
        assert refused.error is FlowRefusal.BAD_REQUEST
    message = await client.request(
        CONNECT_REQUEST_SUBJECT, f'{{"account_id": "{account}", "redirect_uri": "x"}}'.encode()
    )
    unknown = ConnectRefused.model_validate_json(message.data)
    assert (unknown.error, unknown.detail) == (FlowRefusal.NOT_OAUTH, "no such mail account")


async def test_the_process_answers_and_stops_cleanly_on_sigterm(
    broker_process: Callable[[], Awaitable[asyncio.subprocess.Process]], client: Client
) -> None:
    process = await broker_process()
    account = uuid.uuid4()
    reply = await _token_refusal(client, f'{{"account_id": "{account}"}}'.encode())
    assert (reply.account_id, reply.error) == (account, Refusal.NOT_CONNECTED)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 60) == 0  # the fixture checks its log
    with pytest.raises(NoRespondersError):
        await client.request(TOKEN_REQUEST_SUBJECT, b"{}", timeout=REQUEST_TIMEOUT_S)
