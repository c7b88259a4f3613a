"""The broker on a real NATS: a token request gets its typed reply within the requester's
timeout, every replica answers in one queue group, and SIGTERM stops the process cleanly."""

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from mailbridge.common.oauth_requests import (
    TOKEN_REPLY,
    TOKEN_REQUEST_SUBJECT,
    AccessTokenRefused,
    Refusal,
)
from mailbridge.oauth_broker.main import create_app
from mailbridge.oauth_broker.settings import OAuthBrokerSettings
from nats.aio.client import Client
from nats.errors import NoRespondersError

REQUEST_TIMEOUT_S = 2.0  # the requesters' "short timeout"


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    try:
        yield connection
    finally:
        await connection.close()


async def _request(client: Client, body: bytes, answered_within_s: float = 30.0) -> AccessTokenRefused:
    """One request; while the broker is still starting (no responder yet), ask again."""
    deadline = asyncio.get_running_loop().time() + answered_within_s
    while True:
        try:
            message = await client.request(TOKEN_REQUEST_SUBJECT, body, timeout=REQUEST_TIMEOUT_S)
            break
        except NoRespondersError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)
    reply = TOKEN_REPLY.validate_json(message.data)
    assert isinstance(reply, AccessTokenRefused)
    return reply


async def test_a_token_request_is_answered_with_a_typed_refusal(nats_url: str, client: Client) -> None:
    app = create_app(OAuthBrokerSettings(nats_url=nats_url))
    await app.start()
    try:
        account = uuid.uuid4()
        reply = await _request(client, f'{{"account_id": "{account}"}}'.encode())
        assert (reply.account_id, reply.error) == (account, Refusal.NOT_CONNECTED)
        bad = await _request(client, b"not json")
        assert (bad.account_id, bad.error) == (None, Refusal.BAD_REQUEST)
    finally:
        await app.stop()


async def test_the_process_answers_and_stops_cleanly_on_sigterm(nats_url: str, client: Client) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env |= {"MAILBRIDGE_NATS_URL": nats_url, "MAILBRIDGE_LOG_FORMAT": "text"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mailbridge.oauth_broker", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        account = uuid.uuid4()
        reply = await _request(client, f'{{"account_id": "{account}"}}'.encode())
        assert (reply.account_id, reply.error) == (account, Refusal.NOT_CONNECTED)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    with pytest.raises(NoRespondersError):
        await client.request(TOKEN_REQUEST_SUBJECT, b"{}", timeout=REQUEST_TIMEOUT_S)
