"""The broker on a real NATS: every request gets its typed reply within the requester's timeout
(a body that does not parse too), and SIGTERM stops the process cleanly."""

import asyncio
import os
import signal
import sys
import uuid

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
from mailbridge.oauth_broker.settings import OAuthBrokerSettings
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


def broker_environment(settings: OAuthBrokerSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    assert settings.secret_key is not None
    return env | {
        "MAILBRIDGE_NATS_URL": str(settings.nats_url), "MAILBRIDGE_DATABASE_URL": str(settings.database_url),
        "MAILBRIDGE_SECRET_KEY": settings.secret_key.get_secret_value(), "MAILBRIDGE_LOG_FORMAT": "text",
        "MAILBRIDGE_EXTRA_CA_FILE": str(settings.extra_ca_file), "MAILBRIDGE_VAR_DIR": str(settings.var_dir),
    }  # fmt: skip


async def test_the_process_answers_and_stops_cleanly_on_sigterm(
    broker_settings: OAuthBrokerSettings, client: Client
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mailbridge.oauth_broker", env=broker_environment(broker_settings),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        account = uuid.uuid4()
        for _ in range(600):
            try:
                reply = await _token_refusal(client, f'{{"account_id": "{account}"}}'.encode())
                break
            except NoRespondersError:
                await asyncio.sleep(0.05)
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
