"""JetStream streams: declared once, here; `ensure_streams` creates or updates them.

Work queues (fetch, send) hand each command to exactly one consumer and drop it once acked;
their duplicate window de-duplicates publishers that use the same `Nats-Msg-Id` (several
config-api replicas scheduling the same slot). Events are kept for a while for any reader.
Consumer settings only apply when a durable consumer is created: changing them is a deliberate
migration step (delete and recreate the durable), never an edit here alone. The audit stream
(G6 checkpoints of the outbox chain) keeps everything and denies deleting and purging messages.
"""

from dataclasses import dataclass
from datetime import timedelta

from mailbridge.common.events import SUBJECT_ROOT
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    retention: RetentionPolicy
    duplicate_window: timedelta
    max_age: timedelta | None = None
    append_only: bool = False  # deny_delete and deny_purge: what was published stays

    def config(self, replicas: int) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=self.retention,
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=self.duplicate_window.total_seconds(),
            max_age=self.max_age.total_seconds() if self.max_age else None,
            deny_delete=self.append_only,
            deny_purge=self.append_only,
        )


FETCH = StreamSpec(
    "MAILBRIDGE_FETCH",
    (f"{SUBJECT_ROOT}.fetch.>",),
    RetentionPolicy.WORK_QUEUE,
    timedelta(minutes=15),
)
SEND = StreamSpec(
    "MAILBRIDGE_SEND", (f"{SUBJECT_ROOT}.send.>",), RetentionPolicy.WORK_QUEUE, timedelta(hours=24)
)
EVENTS = StreamSpec(
    "MAILBRIDGE_EVENTS",
    tuple(f"{SUBJECT_ROOT}.{topic}.>" for topic in ("mail", "mailbox", "oauth", "account")),
    RetentionPolicy.LIMITS,
    timedelta(minutes=15),
    max_age=timedelta(days=7),
)
AUDIT = StreamSpec(
    "MAILBRIDGE_AUDIT",
    (f"{SUBJECT_ROOT}.audit.>",),
    RetentionPolicy.LIMITS,
    timedelta(minutes=15),
    append_only=True,
)
ALL_STREAMS = (FETCH, SEND, EVENTS, AUDIT)


def stream_for(subject: str) -> StreamSpec:
    """The stream that captures `subject` (every published subject has exactly one)."""
    for spec in ALL_STREAMS:
        for pattern in spec.subjects:
            if subject.startswith(pattern.removesuffix(">")):
                return spec
    raise LookupError(f"no stream captures {subject}")


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create every stream, or bring an existing one to the declared configuration."""
    for spec in ALL_STREAMS:
        config = spec.config(replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except BadRequestError:  # created meanwhile by another replica
                pass
        await js.update_stream(config)
