"""Publishes scheduled FetchRequested commands: one per receiving account and slot (G2, A10).

Runs in every config-api replica; de-duplication happens in JetStream by message id, so no
leader election is needed. A tick that finds the same slot again publishes nothing new.
"""

import asyncio
import logging
from datetime import datetime

from faststream.nats import NatsBroker
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.db.types import utcnow
from mailbridge.common.events import FetchReason, FetchRequested
from mailbridge.common.messaging import publish
from mailbridge.config_api.fetching.schedule import scheduled_fetch_id, slot_start
from mailbridge.config_api.mail_settings.service import load_settings
from nats.errors import Error as NatsError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)


async def publish_slot(
    sessions: async_sessionmaker[AsyncSession], broker: NatsBroker, timeout_s: float, now: datetime
) -> tuple[datetime | None, int]:
    """Enqueue this slot's fetches; returns the slot (None: no schedule) and how many were new."""
    async with sessions() as session:
        settings = await load_settings(session)
        interval = settings.fetch_interval_minutes
        if interval is None:
            return None, 0
        accounts = list(await session.scalars(select(MailAccount.id).where(MailAccount.can_receive)))
    slot = slot_start(now, interval)
    new = 0
    for account_id in accounts:
        command = FetchRequested(account_id=account_id, reason=FetchReason.SCHEDULED, requested_by="schedule")
        ack = await publish(broker, command, timeout_s, msg_id=scheduled_fetch_id(account_id, slot))
        new += 0 if ack.duplicate else 1
    return slot, new


async def run_scheduler(
    sessions: async_sessionmaker[AsyncSession], broker: NatsBroker, timeout_s: float, tick_s: float
) -> None:
    done: datetime | None = None
    while True:
        try:
            now = utcnow()
            async with sessions() as session:
                interval = (await load_settings(session)).fetch_interval_minutes
            if interval is not None and slot_start(now, interval) != done:
                done, new = await publish_slot(sessions, broker, timeout_s, now)
                logger.info("scheduled fetches", extra={"slot": str(done), "new": new})
        except (NatsError, TimeoutError, OSError) as error:
            logger.warning("scheduler: will retry this slot: %s", error)
        await asyncio.sleep(tick_s)
