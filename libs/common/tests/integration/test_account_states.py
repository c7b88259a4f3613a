"""#15: the mailbridge_accounts{state} gauge counts accounts by `common.account_state`'s rule, the
one config-api's account health uses (services/config-api/tests/integration/test_account_health.py):
a failed newest finished send makes an account failing as a failed fetch does, a later sent mail
(or mail still being tried) does not; needs_reconnect only on an OAuth server; a never-fetched ok
account is `unfetched`. On both databases, counted as differences (other tests' accounts stay)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from mailbridge.common.account_state import AccountState, account_state, needs_reconnect
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount, OAuthProvider
from mailbridge.common.metrics_sampling import ACCOUNT_STATES, accounts_by_state, count_states, metric_state
from mailbridge.testkit.config_rows import add_account
from prometheus_client import REGISTRY
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

NOW = datetime.now(UTC)


def test_one_rule_for_health_and_the_gauge() -> None:
    assert (
        account_state(needs_reconnect=True, fetch_status="failed", send_status="failed")
        is AccountState.NEEDS_RECONNECT
    )
    assert (
        account_state(needs_reconnect=False, fetch_status="failed", send_status="sent")
        is AccountState.FAILING
    )
    assert (
        account_state(needs_reconnect=False, fetch_status="ok", send_status="failed") is AccountState.FAILING
    )
    assert account_state(needs_reconnect=False, fetch_status="partial", send_status=None) is AccountState.OK
    assert needs_reconnect(True, "needs_reconnect")
    assert not needs_reconnect(False, "needs_reconnect")
    assert metric_state(False, None, None) == "unfetched"
    assert metric_state(False, None, "failed") == "failing"
    assert metric_state(True, "ok", None) == "needs_reconnect"
    rows = [
        (False, "ok", None, 3),
        (False, "failed", None, 2),
        (True, None, None, 1),
        (False, "ok", "failed", 4),
    ]
    assert count_states(rows) == {"ok": 3, "failing": 6, "needs_reconnect": 1, "unfetched": 0}


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


def gauge() -> dict[str, float]:
    return {
        state: REGISTRY.get_sample_value("mailbridge_accounts", {"state": state}) or 0.0
        for state in ACCOUNT_STATES
    }


async def sampled(sessions: async_sessionmaker[AsyncSession]) -> dict[str, float]:
    await accounts_by_state(sessions, cache_s=0)()
    return gauge()


async def _fetched(sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID, status: str) -> None:
    async with sessions() as session, session.begin():
        session.add(FetchState(account_id=account_id, status=status, last_finished_at=NOW))


async def _mail(
    sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID, status: str, age_h: int
) -> None:
    async with sessions() as session, session.begin():
        session.add(OutboxMessage(
            account_id=account_id, status=status, request={"to": ["x@example.com"]},
            updated_at=NOW - timedelta(hours=age_h),
        ))  # fmt: skip


async def test_the_gauge_counts_send_failures_as_health_does(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    before = await sampled(sessions)
    send_failed = (await add_account(sessions)).account_id
    await _fetched(sessions, send_failed, "ok")
    await _mail(sessions, send_failed, "sent", 3)
    await _mail(sessions, send_failed, "failed", 2)
    await _mail(sessions, send_failed, "queued", 0)  # still being tried: not counted
    sent_since = (await add_account(sessions)).account_id
    await _fetched(sessions, sent_since, "partial")
    await _mail(sessions, sent_since, "failed", 2)
    await _mail(sessions, sent_since, "sent", 1)
    never_fetched_send_failed = (await add_account(sessions)).account_id
    await _mail(sessions, never_fetched_send_failed, "failed", 1)
    fetch_failed = (await add_account(sessions)).account_id
    await _fetched(sessions, fetch_failed, "failed")
    unfetched = (await add_account(sessions)).account_id
    # marked needs_reconnect, but its server does not use OAuth: health says ok, so does the gauge
    async with sessions() as session, session.begin():
        await session.execute(
            update(MailAccount).where(MailAccount.id == unfetched).values(oauth_state="needs_reconnect")
        )
    async with sessions() as session, session.begin():
        provider = OAuthProvider(name=f"p-{uuid.uuid4().hex}", server_type="microsoft365", client_id="c")
        session.add(provider)
        await session.flush()
        provider_id = provider.id
    oauth = (await add_account(sessions, server={"oauth_provider_id": provider_id})).account_id
    await _fetched(sessions, oauth, "failed")
    async with sessions() as session, session.begin():
        await session.execute(
            update(MailAccount).where(MailAccount.id == oauth).values(oauth_state="needs_reconnect")
        )

    after = await sampled(sessions)
    assert {state: after[state] - before[state] for state in ACCOUNT_STATES} == {
        "ok": 1, "failing": 3, "needs_reconnect": 1, "unfetched": 1,
    }  # fmt: skip
