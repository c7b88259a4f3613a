"""The sender's background duties: renew its claims, and sweep rows no command will move.

Both are loops that never end but by cancellation and survive a failed pass (the database or
NATS away for a moment): the next pass tries again.
"""

import asyncio
import logging

from mailbridge.sender.adapters.store import OutboxStore
from mailbridge.sender.adapters.sweep import SweepRule, sweep
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)


async def renew_claims_forever(store: OutboxStore) -> None:
    """Every third of the stale threshold: a live claim is never taken for a dead one."""
    while True:
        await asyncio.sleep(store.stale_after.total_seconds() / 3)
        try:
            await store.renew_claims()
        except (SQLAlchemyError, OSError) as error:
            logger.warning("renewing %d claims failed, will retry: %s", store.held, error)


async def sweep_forever(
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, durable: str, stream: str,
    egress: bool, rule: SweepRule, every_s: float, relay_wake: asyncio.Event,
) -> None:  # fmt: skip
    while True:
        await asyncio.sleep(every_s)
        try:
            drained = await _queue_drained(js, stream, durable)
            swept = await sweep(sessions, egress, rule, include_queued=drained)
        except (SQLAlchemyError, OSError) as error:
            logger.warning("sweeping the outbox failed, will retry: %s", error)
            continue
        if swept.stale or swept.queued:
            relay_wake.set()
            logger.warning(
                "outbox sweep: %d mails of a dead sender and %d mails without a command requested again",
                len(swept.stale), len(swept.queued),
                extra={"stale": [str(i) for i in swept.stale[:20]],
                       "queued": [str(i) for i in swept.queued[:20]]},
            )  # fmt: skip


async def _queue_drained(js: JetStreamContext, stream: str, durable: str) -> bool:
    """No command waits undelivered: a `queued` row found now really has none on its way (a
    backlog would make every row behind it look stuck)."""
    try:
        return int((await js.consumer_info(stream, durable)).num_pending or 0) == 0
    except (NatsError, TimeoutError):
        return False
