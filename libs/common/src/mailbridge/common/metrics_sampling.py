"""Gauges read on scrape rather than kept up to date: each durable's pending commands (the lag a
KEDA trigger scales on too) and the mail accounts by state (a GROUP BY, cached a few seconds so
several scrapers do not each cost a query). An account's state is `common.account_state`'s, the
rule config-api's account health uses: send failures count as they do there."""

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mailbridge.common.account_state import (
    AccountState,
    account_state,
    needs_reconnect,
    newest_finished_send_status,
)
from mailbridge.common.consumers import WorkQueue
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.metrics import ACCOUNTS, CONSUMER_ACK_PENDING, CONSUMER_PENDING
from mailbridge.common.ops_http import Sampler
from nats.aio.client import Client as NatsClient
from sqlalchemy import Select, func, select
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


def metric_state(needs_reconnect: bool, fetch_status: str | None, send_status: str | None) -> str:
    """The account's state (`common.account_state`, the rule the API's health uses), with an ok
    account that was never fetched told apart as `unfetched`."""
    state = account_state(needs_reconnect=needs_reconnect, fetch_status=fetch_status, send_status=send_status)
    if state is AccountState.OK and fetch_status is None:
        return "unfetched"
    return state.value


def count_states(rows: Iterable[tuple[bool, str | None, str | None, int]]) -> dict[str, int]:
    """(needs reconnecting, last fetch status, newest finished send's status, count) rows →
    accounts per state, every state present."""
    counts = dict.fromkeys(ACCOUNT_STATES, 0)
    for reconnect, fetch_status, send_status, count in rows:
        counts[metric_state(reconnect, fetch_status, send_status)] += count
    return counts


def _accounts_query() -> Select[Any]:
    """Accounts grouped by what decides their state: one row per combination, with its count."""
    per_account = (
        select(
            MailServer.oauth_provider_id.is_not(None).label("uses_oauth"),
            MailAccount.oauth_state.label("oauth_state"),
            FetchState.status.label("fetch_status"),
            newest_finished_send_status(MailAccount.id).label("send_status"),
        )
        .select_from(MailAccount)
        .join(MailServer, MailServer.id == MailAccount.server_id)
        .outerjoin(FetchState, FetchState.account_id == MailAccount.id)
        .subquery()
    )
    keys = (
        per_account.c.uses_oauth,
        per_account.c.oauth_state,
        per_account.c.fetch_status,
        per_account.c.send_status,
    )
    return select(*keys, func.count()).group_by(*keys)


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
        async with sessions() as session:
            rows = [
                (needs_reconnect(bool(oauth), state), fetch, send, int(count))
                for oauth, state, fetch, send, count in (await session.execute(_accounts_query())).all()
            ]
        for state, count in count_states(rows).items():
            ACCOUNTS.labels(state).set(count)
        last[:] = [now]

    return sample
