"""The credential_tests rows (T1): one running test per account, joined rather than started twice
(the partial unique index `uq_credential_tests_running`), its report written when it ends, the
last one shown on the account.

A run whose config-api died mid-test would stay `running` for ever and block the account's next
test; one older than `STALE_AFTER` is closed as abandoned when the next test starts.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mailbridge.common.credential_checks import MAX_RECEIVE_TIMEOUT_S
from mailbridge.common.db.credential_tests import CredentialTest
from mailbridge.common.db.types import utcnow
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

RUNNING, FINISHED = "running", "finished"
STALE_AFTER = timedelta(seconds=MAX_RECEIVE_TIMEOUT_S + 600)


@dataclass(frozen=True)
class Started:
    test_id: uuid.UUID
    joined: bool  # another request's test was running: this one waits for it


async def start_or_join(sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID) -> Started:
    for _ in range(3):  # the running one may finish, or be found stale, between the two statements
        async with sessions() as session:
            row = CredentialTest(account_id=account_id, status=RUNNING)
            session.add(row)
            try:
                await session.commit()
                return Started(row.id, joined=False)
            except IntegrityError:
                await session.rollback()
            running = await session.scalar(
                select(CredentialTest).where(
                    CredentialTest.account_id == account_id, CredentialTest.status == RUNNING
                )
            )
            if running is None:
                continue
            if utcnow() - running.started_at < STALE_AFTER:
                return Started(running.id, joined=True)
            await _finish(session, running.id, abandoned())
            await session.commit()
    raise RuntimeError(f"no credentials test could be started or joined for account {account_id}")


def abandoned() -> dict[str, Any]:
    return {"ok": False, "steps": [], "finished_at": utcnow().isoformat(), "abandoned": True}


async def finish(
    sessions: async_sessionmaker[AsyncSession], test_id: uuid.UUID, report: dict[str, Any]
) -> None:
    async with sessions() as session:
        await _finish(session, test_id, report)
        await session.commit()


async def _finish(session: AsyncSession, test_id: uuid.UUID, report: dict[str, Any]) -> None:
    statement = (
        update(CredentialTest)
        .where(CredentialTest.id == test_id, CredentialTest.status == RUNNING)
        .values(status=FINISHED, ok=bool(report["ok"]), report=report, finished_at=utcnow())
    )
    await session.execute(statement)


async def load(
    sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID, test_id: uuid.UUID
) -> CredentialTest | None:
    async with sessions() as session:
        row = await session.get(CredentialTest, test_id)
        return row if row is not None and row.account_id == account_id else None


async def last_report(session: AsyncSession, account_id: uuid.UUID) -> dict[str, Any] | None:
    """The report of the account's last finished test (the account's `last_test`)."""
    statement = (
        select(CredentialTest.report)
        .where(CredentialTest.account_id == account_id, CredentialTest.status == FINISHED)
        .order_by(CredentialTest.finished_at.desc())
        .limit(1)
    )
    report: dict[str, Any] | None = await session.scalar(statement)
    return report
