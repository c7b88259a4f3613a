"""G6 verification over HTTP (`GET /outbox/verify`): the same check as `mailbridge outbox verify`
(common/outbox_verify.py), reading the checkpoints through this service's NATS connection."""

from dataclasses import asdict

from fastapi import Request
from mailbridge.common.outbox_checkpoints import read_checkpoints
from mailbridge.common.outbox_verify import verify_outbox
from mailbridge.common.seal_keys import SealKeys
from mailbridge.config_api.deps import AppContext
from mailbridge.config_api.errors import ServiceUnavailable
from nats.errors import Error as NatsError
from pydantic import BaseModel, Field

RETRY_AFTER_S = 30


class ChainReport(BaseModel):
    sealed_rows: int
    intact: bool
    first_altered_id: str | None = Field(
        description="the first sealed row that breaks, when there is one to name"
    )
    first_broken_seq: int | None = Field(description="the chain position of the first break")
    reason: str | None = Field(description="why the chain is not intact")
    checkpoints: int = Field(description="signed checkpoints of this installation in MAILBRIDGE_AUDIT")
    checkpointed_seq: int = Field(description="the highest chain position a checkpoint confirms")
    legacy_rows: int = Field(description="rows sealed before seal keys (plain SHA-256), the chain's start")


async def verify_chain(request: Request) -> ChainReport:
    context: AppContext = request.app.state.context
    keys: SealKeys | None = request.app.state.seal_keys
    if keys is None:
        raise ServiceUnavailable("no seal key configured (MAILBRIDGE_SEAL_KEY)", RETRY_AFTER_S)
    try:
        log = await read_checkpoints(context.broker.connection.jetstream())
    except (NatsError, TimeoutError) as error:
        raise ServiceUnavailable(
            f"the checkpoints cannot be read from NATS: {error}", RETRY_AFTER_S
        ) from error
    return ChainReport(**asdict(await verify_outbox(context.sessions, keys, log)))
