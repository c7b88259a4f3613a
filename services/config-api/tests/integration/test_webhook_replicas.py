"""Webhook delivery across config-api replicas and restarts (#18), on both databases and real NATS:
two replicas share the durable and the deliveries (each event delivered once, one attempt each),
and a delivery recorded by a replica that then stops is delivered by the next one from the
database alone (the event was acked on NATS before)."""

import asyncio
import uuid
from typing import Any

import nats
from config_api_testing import Api, serving
from mailbridge.common.consumers import WEBHOOK_QUEUE
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.testkit.webhook_receiver import WebhookReceiver
from webhook_testing import (
    allow_private,
    fetched,
    log_of,
    private_nats,
    publish,
    receiver,
    register,
    settled_log,
    verified,
    webhook_settings,
)

__all__ = ["private_nats", "receiver", "webhook_settings"]  # the fixtures this module uses


async def delivered_log(api: Api, webhook_id: str, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(60):
        while True:
            log = await log_of(api, webhook_id)
            if len(log) == count and all(d["status"] == "delivered" for d in log):
                return log
            await asyncio.sleep(0.05)


async def test_two_replicas_deliver_each_event_once(
    webhook_settings: ConfigApiSettings, receiver: WebhookReceiver
) -> None:
    async with serving(webhook_settings) as first, serving(webhook_settings) as second:
        await allow_private(first)
        hook = await register(first, receiver.url)
        events = [fetched() for _ in range(6)]
        for event in events:
            await publish(second, event)
        log = await delivered_log(second, hook["id"], 6)
        assert [len(delivery["log"]) for delivery in log] == [1] * 6
        requests = receiver.requests
        assert len(requests) == 6
        assert len({r.headers["webhook-id"] for r in requests}) == 6
        bodies = [verified(hook["secret"], r) for r in requests]
        assert sorted(b["event_id"] for b in bodies) == sorted(str(e.event_id) for e in events)


async def test_a_recorded_delivery_survives_a_restart_without_nats_redelivery(
    webhook_settings: ConfigApiSettings, receiver: WebhookReceiver
) -> None:
    # The first replica records the event but looks for due deliveries only once, at its start.
    asleep = webhook_settings.model_copy(update={"webhook_poll_s": 3600.0})
    async with serving(asleep) as stopping:
        await allow_private(stopping)
        hook = await register(stopping, receiver.url)
        await publish(stopping, fetched())
        await settled_log(stopping, hook["id"], "pending")
    connection = await nats.connect(webhook_settings.require_nats_url())
    try:
        info = await connection.jetstream().consumer_info(WEBHOOK_QUEUE.stream.name, WEBHOOK_QUEUE.durable)
        assert (info.num_pending, info.num_ack_pending) == (0, 0)  # acked: only the database holds it
    finally:
        await connection.close()
    assert receiver.requests == []
    async with serving(webhook_settings) as restarted:
        (request,) = await receiver.received(1)
        (delivery,) = await settled_log(restarted, hook["id"], "delivered")
        assert request.headers["webhook-id"] == delivery["webhook_id"]
        assert uuid.UUID(verified(hook["secret"], request)["event_id"]) == uuid.UUID(delivery["event_id"])
