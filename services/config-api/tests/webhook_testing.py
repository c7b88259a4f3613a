"""Helpers for the webhook tests (#18): config-api with delivery on a NATS of the tests' own,
events published as the services publish them, the delivery log read through the API."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from config_api_testing import Api, serving
from mailbridge.common.consumers import WEBHOOK_QUEUE
from mailbridge.common.events import MailFetched, Message
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.secrets import generate_key
from mailbridge.common.streams import EVENTS
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.testkit.webhook_receiver import Received, WebhookReceiver, webhook_receiver
from standardwebhooks import Webhook


@pytest.fixture(scope="module")
def private_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS of this module's own, even where MAILBRIDGE_TEST_NATS_URL names a shared one: the
    durable, its events and their purge disturb no other test (nor a parallel worker's)."""
    server = start_embedded_nats(tmp_path_factory.mktemp("webhook-nats"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def webhook_settings(
    empty_database_url: str, private_nats: str, tmp_path: Path
) -> AsyncIterator[ConfigApiSettings]:
    """config-api with webhook delivery on: retries after 0.5 s, twice, then it gives up. The
    durable and the events are removed afterwards."""
    yield ConfigApiSettings(
        database_url=empty_database_url, nats_url=private_nats, secret_key=generate_key(), var_dir=tmp_path,
        scheduler_tick_s=0, outbox_relay=False, webhook_retry_schedule_s=(0.5, 0.5), webhook_timeout_s=3.0,
        webhook_poll_s=0.1,
    )  # fmt: skip
    connection = await nats.connect(private_nats)
    js = connection.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_consumer(EVENTS.name, WEBHOOK_QUEUE.durable)
    await js.purge_stream(EVENTS.name)
    await connection.close()


@pytest.fixture
async def api(webhook_settings: ConfigApiSettings) -> AsyncIterator[Api]:
    async with serving(webhook_settings) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as running:
        yield running


async def publish(api: Api, event: Message) -> None:
    connection = await nats.connect(api.running.app.state.context.broker.connection.connected_url.geturl())
    try:
        await connection.jetstream().publish(event.subject, event.model_dump_json().encode())
    finally:
        await connection.close()


def fetched(unit: uuid.UUID | None = None) -> MailFetched:
    return MailFetched(
        account_id=uuid.uuid4(), business_unit_id=unit, folder="INBOX", message_id=uuid.uuid4(),
        subject_line="Invoice 42", from_address="billing@example.org", size=1234, sha256="ab" * 32,
    )  # fmt: skip


async def allow_private(api: Api, allowed: bool = True) -> None:
    response = await api.patch("/settings/mail", {"webhooks_allow_private_targets": allowed})
    assert response.status_code == 200, response.text


async def register(api: Api, url: str, **changes: Any) -> dict[str, Any]:
    return await api.create("/webhooks", {"url": url, "event_types": ["MailFetched"], **changes})


def verified(secret: str, request: Received) -> Any:
    return Webhook(secret).verify(request.body, request.headers)


async def log_of(api: Api, webhook_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled_log(api: Api, webhook_id: str, status: str) -> list[dict[str, Any]]:
    """The log once its one delivery has reached `status` (the worker records after the answer)."""
    async with asyncio.timeout(30):
        while (log := await log_of(api, webhook_id)) == [] or log[0]["status"] != status:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return log
