"""A fetch's lease kept alive while the fetch runs, so the lease itself can be short.

The lease's TTL is what a killed fetcher costs its account: nobody can fetch it until the lease
expires. Renewing only with each stored batch needed a TTL longer than any gap between batches
(a slow server, a large message, the first SELECT of a huge folder), which was 120 s. Renewed
every third of its TTL by a heartbeat beside the fetch, the lease can be short (30 s by default)
and a live fetch still never loses it. A renewal that finds the lease taken over stops the
heartbeat: the fetch's next write fails with `LeaseLost` as before (the fence stays the guard).
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
async def kept(renew: Renew, ttl: timedelta) -> AsyncIterator[None]:
    """Renew the lease every third of `ttl` until the block ends."""
    heartbeat = asyncio.create_task(_beat(renew, ttl.total_seconds() / 3))
    try:
        yield
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)


async def _beat(renew: Renew, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await renew()
        except LeaseLost as lost:
            logger.warning("lease heartbeat stopped: %s", lost)
            return
        except Exception as error:  # noqa: BLE001 - a failed renewal is retried at the next beat
            logger.warning("renewing a fetch lease failed, will retry: %s", error)
