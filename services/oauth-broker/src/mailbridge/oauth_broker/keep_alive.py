"""The background refresher (O4): grants nobody asked for in a while are refreshed, a small
batch at a time, through the same locked path as a request, so it never races one. A refresh
token that is used now and then does not lapse (Entra's expire after 90 days unused)."""

import asyncio
import logging
from datetime import timedelta

from mailbridge.common.oauth_requests import AccessTokenRefused
from mailbridge.oauth_broker.ports import GrantStore
from mailbridge.oauth_broker.tokens import TokenKeeper

logger = logging.getLogger(__name__)


async def keep_alive_once(keeper: TokenKeeper, grants: GrantStore, after: timedelta, batch: int) -> int:
    """Refresh up to `batch` grants not refreshed for `after`; return how many were looked at."""
    refreshed_before = keeper.now() - after
    accounts = await grants.stale(refreshed_before, batch)
    for account_id in accounts:
        reply = await keeper.keep_alive(account_id, refreshed_before)
        if isinstance(reply, AccessTokenRefused):
            logger.info(
                "keep-alive refused: %s",
                reply.error,
                extra={"account_id": str(account_id), "reason": reply.detail},
            )
    return len(accounts)


async def keep_alive_forever(
    keeper: TokenKeeper, grants: GrantStore, after: timedelta, batch: int, every: timedelta
) -> None:
    while True:
        try:
            await keep_alive_once(keeper, grants, after, batch)
        except Exception:  # the database restarting: the refresher must outlive it
            logger.exception("keep-alive pass failed, will retry")
        await asyncio.sleep(every.total_seconds())
