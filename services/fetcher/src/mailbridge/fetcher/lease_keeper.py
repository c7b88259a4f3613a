"""A fetch's lease kept alive while the fetch runs, so the lease itself can be short.

The lease's TTL is what a killed fetcher costs its account: nobody can fetch it until the lease
expires. Renewing only with each stored batch needed a TTL longer than any gap between batches
(a slow server, a large message, the first SELECT of a huge folder), which was 120 s. Renewed
every third of its TTL by a heartbeat beside the fetch, the lease can be short (30 s by default)
and a live fetch still never loses it. A renewal that finds the lease taken over stops the
heartbeat: the fetch's next write fails with `LeaseLost` as before (the fence stays the guard).

Each beat also keeps the fetch's command (`also`: the message's `in_progress()`), so the fetch
durable's ack wait can be as short as the lease (`common.consumers.fetch_ack_wait_s`): a killed
fetcher's commands come back to the others just after its leases expired, not after minutes.
A renewal that failed for another reason (the database away) still keeps the command: the fetch
runs on, and its next write decides.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from mailbridge.fetcher.model import LeaseLost

logger = logging.getLogger(__name__)
Renew = Callable[[], Awaitable[None]]


@asynccontextmanager
async def kept(renew: Renew, ttl: timedelta, also: Renew | None = None) -> AsyncIterator[None]:
    """Renew the lease every third of `ttl` until the block ends, and call `also` after each
    renewal that did not find the lease lost."""
    heartbeat = asyncio.create_task(_beat(renew, ttl.total_seconds() / 3, also))
    try:
        yield
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)


async def _beat(renew: Renew, every_s: float, also: Renew | None) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await renew()
        except LeaseLost as lost:
            logger.warning("lease heartbeat stopped: %s", lost)
            return
        except Exception as error:  # noqa: BLE001 - a failed renewal is retried at the next beat
            logger.warning("renewing a fetch lease failed, will retry: %s", error)
        if also is not None:
            try:
                await also()
            except Exception as error:  # noqa: BLE001 - e.g. NATS away: the next beat tries again
                logger.warning("keeping a fetch's command failed, will retry: %s", error)
