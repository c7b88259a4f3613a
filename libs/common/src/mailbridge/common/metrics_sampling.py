"""Gauges read on scrape rather than kept up to date: each durable's pending commands (the lag a
KEDA trigger scales on too) and the mail accounts by state (a GROUP BY, cached a few seconds so
several scrapers do not each cost a query)."""

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mailbridge.common.consumers import WorkQueue
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.metrics import ACCOUNTS, CONSUMER_ACK_PENDING, CONSUMER_PENDING
from mailbridge.common.ops_http import Sampler
from nats.aio.client import Client as NatsClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ACCOUNT_STATES = ("ok", "failing", "needs_reconnect", "unfetched")
ACCOUNTS_CACHE_S = 5.0


def consumer_lag(client: Callable[[], NatsClient], queues: Sequence[WorkQueue[Any]]) -> Sampler:
    """Sets mailbridge_consumer_pending_messages{durable} for each queue this service takes from."""

    async def sample() -> None:
        js = client().jetstream()
        for queue in queues:
            info = await js.consumer_info(queue.stream.name, queue.durable)
            CONSUMER_PENDING.labels(queue.durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(queue.durable).set(info.num_ack_pending or 0)

    return sample


def account_state(oauth_state: str, fetch_status: str | None) -> str:
    """An account's state for people and dashboards: needs_reconnect (O4) before a failed last
    fetch (failing), before no fetch yet (unfetched); otherwise ok (its last fetch ok or partial)."""
    if oauth_state == "needs_reconnect":
        return "needs_reconnect"
    if fetch_status is None:
        return "unfetched"
    return "failing" if fetch_status == "failed" else "ok"


def count_states(rows: Iterable[tuple[str, str | None, int]]) -> dict[str, int]:
    """(oauth_state, last fetch status, count) rows → accounts per state, every state present."""
    counts = dict.fromkeys(ACCOUNT_STATES, 0)
    for oauth_state, fetch_status, count in rows:
        counts[account_state(oauth_state, fetch_status)] += count
    return counts


def accounts_by_state(
    sessions: async_sessionmaker[AsyncSession], cache_s: float = ACCOUNTS_CACHE_S,
    clock: Callable[[], float] = time.monotonic,
) -> Sampler:  # fmt: skip
    """Sets mailbridge_accounts{state} from one GROUP BY, at most once per `cache_s`."""
    last: list[float] = []

    async def sample() -> None:
        now = clock()
        if last and now - last[0] < cache_s:
            return
        query = (
            select(MailAccount.oauth_state, FetchState.status, func.count())
            .select_from(MailAccount)
            .outerjoin(FetchState, FetchState.account_id == MailAccount.id)
            .group_by(MailAccount.oauth_state, FetchState.status)
        )
        async with sessions() as session:
            rows = [(str(a), b, int(c)) for a, b, c in (await session.execute(query)).all()]
        for state, count in count_states(rows).items():
            ACCOUNTS.labels(state).set(count)
        last[:] = [now]

    return sample
