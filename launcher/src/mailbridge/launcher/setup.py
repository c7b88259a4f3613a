"""The set-up of a deployment, one code path for `mailbridge run` and `mailbridge setup`.

A deployment is ready for its services once the database is at the newest migration and
JetStream holds every stream (`common.streams`) and every work queue's durable consumer
(`common.consumers`). `mailbridge run` does this before it starts the services; the one-shot
set-up job of docker compose and Kubernetes runs `mailbridge setup`, which calls the same two
functions, so neither relies on whichever service happens to start first.

A durable is created with the ack wait and maximum deliveries its service would give it
(MAILBRIDGE_FETCH_MAX_DELIVER, MAILBRIDGE_SEND_ACK_WAIT_S: read from the same environment), and
an existing one is left as it is: as `common.consumers` says, changing a durable's settings is a
deliberate migration step. The services still ensure the streams and bind (or create) their
durables when they start, so a set-up that ran before them changes nothing they do.
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
)
from mailbridge.common.db.migrate import upgrade
from mailbridge.common.streams import ALL_STREAMS, ensure_streams
from mailbridge.fetcher.settings import FetcherSettings
from mailbridge.sender.settings import SenderSettings
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import BadRequestError, NotFoundError


@dataclass(frozen=True)
class Prepared:
    """What a set-up left in JetStream: the streams and the durables (stream, name) it ensured."""

    streams: tuple[str, ...]
    durables: tuple[tuple[str, str], ...]


def prepare_database(database_url: str) -> None:
    """Migrate the database to the newest revision (idempotent)."""
    upgrade(database_url)


def durable_config(queue: WorkQueue[Any]) -> ConsumerConfig:
    """The durable as its service would create it: the queue's declaration with the service's
    own overrides (the fetcher's maximum deliveries, the sender's ack wait)."""
    if queue in (FETCH_QUEUE, CHANGES_QUEUE):
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
    """Create every declared durable that does not exist yet; leave the others alone."""
    ensured = []
    for queue in ALL_QUEUES:  # every work queue's durable, the out-of-office one included
        stream = queue.stream.name
        try:
            await js.consumer_info(stream, queue.durable)
        except NotFoundError:
            try:
                await js.add_consumer(stream, config=durable_config(queue))
            except BadRequestError:  # created meanwhile by a service that started
                await js.consumer_info(stream, queue.durable)
        ensured.append((stream, queue.durable))
    return tuple(ensured)


async def prepare_nats(url: str, replicas: int, connect_timeout_s: float) -> Prepared:
    """Streams (with `replicas` copies each) and durables on the NATS server at `url`."""
    connection = await nats.connect(
        url, name="mailbridge-setup", connect_timeout=connect_timeout_s, max_reconnect_attempts=3,
        allow_reconnect=True,
    )  # fmt: skip
    try:
        js = connection.jetstream()
        await ensure_streams(js, replicas)
        durables = await ensure_durables(js)
    finally:
        await connection.drain()
    return Prepared(tuple(spec.name for spec in ALL_STREAMS), durables)
