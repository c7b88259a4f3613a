"""G6 checkpoints: the outbox chain's head, signed with the seal key, kept in an append-only stream.

The sender writes one checkpoint per sealed batch (the batch's last position, row and seal) into
the outbox table in the sealing transaction; the relay publishes it to `MAILBRIDGE_AUDIT`
(streams.py: deny delete, deny purge). A chain that ends before a checkpoint's position lost its
newest rows; a row whose seal differs from its checkpoint's was rewritten. A checkpoint under a
key the ring does not hold belongs to another installation (or a key taken out of the ring) and
is passed over; one under a key it holds whose signature does not match is a forgery.
"""

import uuid
from contextlib import suppress
from dataclasses import dataclass, field

from mailbridge.common.events import OutboxCheckpointed
from mailbridge.common.seal_keys import SealKeys
from mailbridge.common.streams import AUDIT
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

_LABEL = b"outbox-checkpoint\0"
FETCH_BATCH = 1000


def _signed_content(seq: int, outbox_id: uuid.UUID, seal: str) -> bytes:
    return _LABEL + f"{seq}\0{outbox_id}\0{seal}".encode()


def checkpoint(keys: SealKeys, seq: int, outbox_id: uuid.UUID, seal: str) -> OutboxCheckpointed:
    """The signed checkpoint of the chain's head at `seq`."""
    mac = keys.mac(_signed_content(seq, outbox_id, seal))
    return OutboxCheckpointed(seq=seq, outbox_id=outbox_id, seal=seal, key_id=keys.newest_id, mac=mac)


def genuine(keys: SealKeys, found: OutboxCheckpointed) -> bool:
    return keys.verify(_signed_content(found.seq, found.outbox_id, found.seal), found.key_id, found.mac)


@dataclass
class CheckpointLog:
    """What the audit stream holds: whether it exists and denies delete and purge, and every
    checkpoint in it with its stream sequence (a message that is no checkpoint: its sequence)."""

    stream_found: bool
    append_only: bool = False
    checkpoints: list[tuple[int, OutboxCheckpointed]] = field(default_factory=list)
    unreadable: list[int] = field(default_factory=list)


async def read_checkpoints(js: JetStreamContext) -> CheckpointLog:
    """Every message of the audit stream, through a short-lived consumer of its own (no acks)."""
    try:
        info = await js.stream_info(AUDIT.name)
    except NotFoundError:
        return CheckpointLog(stream_found=False)
    log = CheckpointLog(True, bool(info.config.deny_delete and info.config.deny_purge))
    if info.state.messages == 0:
        return log
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60.0
    )
    subscription = await js.pull_subscribe(OutboxCheckpointed.subject, stream=AUDIT.name, config=config)
    try:
        pending = 1
        while pending:
            for message in await subscription.fetch(FETCH_BATCH, timeout=10):
                sequence, pending = message.metadata.sequence.stream, message.metadata.num_pending
                try:
                    log.checkpoints.append((sequence, OutboxCheckpointed.model_validate_json(message.data)))
                except ValidationError:
                    log.unreadable.append(sequence)
    finally:
        with suppress(NatsError):
            await js.delete_consumer(AUDIT.name, (await subscription.consumer_info()).name)
        await subscription.unsubscribe()
    return log
