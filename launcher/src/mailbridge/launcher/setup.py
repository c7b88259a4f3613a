"""The set-up of a deployment, one code path for `mailbridge run` and `mailbridge setup`.

A deployment is ready for its services once the database is at the newest migration and
JetStream holds every stream (`common.streams`), every work queue's durable consumer
(`common.consumers`) and the shared limits' KV bucket (`common.limits_kv`, #17). `mailbridge
run` does this before it starts the services; the one-shot set-up job of docker compose and
Kubernetes runs `mailbridge setup`, which calls the same two functions, so neither relies on
whichever service happens to start first.

A durable is created with the ack wait and maximum deliveries its service would give it
(MAILBRIDGE_FETCH_MAX_DELIVER, MAILBRIDGE_FETCH_LEASE_TTL_S for the fetch durable's ack wait,
MAILBRIDGE_SEND_ACK_WAIT_S: read from the same environment), and an existing one whose ack wait
or maximum deliveries differ is updated in place to them (both are editable on a live durable),
so a deploy that changes them, or a version that declares them differently (the fetch ack wait
was 120 s before it followed the lease), applies them. The services still ensure the streams and
bind (or create) their durables when they start, so a set-up that ran before them changes
nothing they do (the limits' bucket too: a service creates it when missing).
"""

from dataclasses import dataclass
from typing import Any

import nats
from mailbridge.common.consumers import (
    ALL_QUEUES,
    CHANGES_QUEUE,
    EGRESS_SEND_QUEUE,
    FETCH_QUEUE,
    SEND_QUEUE,
    WorkQueue,
    fetch_ack_wait_s,
)
from mailbridge.common.db.migrate import upgrade
from mailbridge.common.limits_kv import LIMITS_BUCKET, limits_bucket
from mailbridge.common.streams import ALL_STREAMS, ensure_streams
from mailbridge.fetcher.settings import FetcherSettings
from mailbridge.sender.settings import SenderSettings
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import BadRequestError, NotFoundError


@dataclass(frozen=True)
class Prepared:
    """What a set-up left in JetStream: the streams, the durables (stream, name) and the KV
    buckets it ensured."""

    streams: tuple[str, ...]
    durables: tuple[tuple[str, str], ...]
    buckets: tuple[str, ...] = ()


def prepare_database(database_url: str) -> None:
    """Migrate the database to the newest revision (idempotent)."""
    upgrade(database_url)


def durable_config(queue: WorkQueue[Any]) -> ConsumerConfig:
    """The durable as its service would create it: the queue's declaration with the service's
    own overrides (the fetcher's maximum deliveries, the sender's ack wait)."""
    if queue is FETCH_QUEUE:
        fetcher = FetcherSettings()
        ack_wait_s = fetch_ack_wait_s(fetcher.fetch_lease_ttl_s)
        config = queue.config(ack_wait_s=ack_wait_s, max_deliver=fetcher.fetch_max_deliver)
    elif queue is CHANGES_QUEUE:
        config = queue.config(max_deliver=FetcherSettings().fetch_max_deliver)
    elif queue in (SEND_QUEUE, EGRESS_SEND_QUEUE):
        config = queue.config(ack_wait_s=SenderSettings().send_ack_wait_s)
    else:
        config = queue.config()
    config.name = config.durable_name = queue.durable
    if not config.filter_subjects:  # the webhooks' durable filters several subjects (#18)
        config.filter_subject = queue.command.subject  # as pull_subscribe filters an auto-created one
    return config


async def ensure_durables(js: JetStreamContext) -> tuple[tuple[str, str], ...]:
    """Create every declared durable that does not exist yet; bring an existing one's ack wait
    and maximum deliveries up to the declaration."""
    ensured = []
    for queue in ALL_QUEUES:  # every work queue's durable, the out-of-office one included
        stream, wanted = queue.stream.name, durable_config(queue)
        try:
            existing = (await js.consumer_info(stream, queue.durable)).config
        except NotFoundError:
            try:
                await js.add_consumer(stream, config=wanted)
            except BadRequestError:  # created meanwhile by a service that started
                existing = (await js.consumer_info(stream, queue.durable)).config
            else:
                existing = wanted
        if outdated(existing, wanted):
            await js.add_consumer(stream, config=wanted)  # an update in place: same name and filter
        ensured.append((stream, queue.durable))
    return tuple(ensured)


def outdated(existing: ConsumerConfig, wanted: ConsumerConfig) -> bool:
    """Whether a durable's editable settings differ from what is declared for it."""
    return (existing.ack_wait, existing.max_deliver) != (wanted.ack_wait, wanted.max_deliver)


async def prepare_nats(url: str, replicas: int, connect_timeout_s: float) -> Prepared:
    """Streams (with `replicas` copies each), durables and the limits' bucket on the NATS server
    at `url`."""
    connection = await nats.connect(
        url, name="mailbridge-setup", connect_timeout=connect_timeout_s, max_reconnect_attempts=3,
        allow_reconnect=True,
    )  # fmt: skip
    try:
        js = connection.jetstream()
        await ensure_streams(js, replicas)
        durables = await ensure_durables(js)
        await limits_bucket(js, replicas)  # #17: the declaration the services use
    finally:
        await connection.drain()
    return Prepared(tuple(spec.name for spec in ALL_STREAMS), durables, (LIMITS_BUCKET,))
