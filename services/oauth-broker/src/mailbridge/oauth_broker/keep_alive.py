"""The background refresher (O4): grants nobody asked for in a while are refreshed, a small
batch at a time, through the same locked path as a request, so it never races one. A refresh
token that is used now and then does not lapse (Entra's expire after 90 days unused).

A grant whose refresh is refused (the provider away, the provider row unusable) rests for a while
before it is tried again, so a few broken accounts cannot take every batch from the others.
"""

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

from mailbridge.common.oauth_requests import AccessTokenRefused
from mailbridge.oauth_broker.ports import GrantStore
from mailbridge.oauth_broker.tokens import TokenKeeper

logger = logging.getLogger(__name__)


class KeepAlive:
    def __init__(
        self, keeper: TokenKeeper, grants: GrantStore, after: timedelta, batch: int,
        rest: timedelta = timedelta(hours=1),
    ) -> None:  # fmt: skip
        self._keeper = keeper
        self._grants = grants
        self._after = after
        self._batch = batch
        self._rest = rest
        self._resting: dict[uuid.UUID, datetime] = {}

    async def once(self) -> int:
        """Refresh up to `batch` grants not refreshed for `after`; return how many were tried."""
        now = self._keeper.now()
        self._resting = {account: until for account, until in self._resting.items() if until > now}
        refreshed_before = now - self._after
        stale = await self._grants.stale(refreshed_before, self._batch + len(self._resting))
        accounts = [account for account in stale if account not in self._resting][: self._batch]
        for account_id in accounts:
            reply = await self._keeper.keep_alive(account_id, refreshed_before)
            if isinstance(reply, AccessTokenRefused):
                self._resting[account_id] = now + self._rest
                logger.info(
                    "keep-alive refused: %s",
                    reply.error,
                    extra={"account_id": str(account_id), "reason": reply.detail},
                )
        return len(accounts)

    async def forever(self, every: timedelta) -> None:
        while True:
            try:
                await self.once()
            except Exception:  # the database restarting: the refresher must outlive it
                logger.exception("keep-alive pass failed, will retry")
            await asyncio.sleep(every.total_seconds())
