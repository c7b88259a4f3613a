"""#17: the sweep leaves a mail waiting for its scheduled next attempt alone (a limit wait gives
its attempt back, so such a row looks never tried) and requests it again only once it is overdue."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.types import utcnow
from mailbridge.sender.adapters.sweep import SweepRule, sweep
from mailbridge.testkit.config_rows import add_account, empty_tables
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

RULE = SweepRule(timedelta(seconds=30), timedelta(seconds=30), timedelta(minutes=31))


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    made = create_session_factory(engine)
    await empty_tables(made)
    yield made
    await engine.dispose()


async def waiting(
    sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID, due_in: timedelta
) -> uuid.UUID:
    async with sessions() as session:
        row = OutboxMessage(
            account_id=account_id, request={"to": ["bob@example.org"], "subject": "Hi", "text": "Hello"},
            retry_reason="limit", next_attempt_at=utcnow() + due_in,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        row.updated_at = utcnow() - timedelta(minutes=5)  # queued long ago, deferred since
        await session.commit()
        return row.id


async def test_a_row_waiting_for_its_next_attempt_is_not_swept_until_overdue(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    account_id = (await add_account(sessions)).account_id
    due_later = await waiting(sessions, account_id, timedelta(minutes=10))
    overdue = await waiting(sessions, account_id, -timedelta(minutes=2))
    swept = await sweep(sessions, False, RULE)
    assert swept.queued == [overdue]
    assert due_later not in swept.queued
