"""The sweep: outbox rows that no command will ever move are requested again, through the outbox.

Two kinds of row are stuck. A `sending` row whose claim has not been renewed for `stale_after`
belongs to a sender that died (a live one renews its claims every few seconds): it goes back to
`queued` (the attempt it counted stays counted). A `queued` row that was never claimed and is
older than `queued_after`, with no SendRequested waiting in the outbox table, lost its command
(a crash before the transactional outbox, a command terminated or dropped); a row queued again
for a retry waits for its backoff first (`retry_after`), and a row with a `next_attempt_at` (the
retry schedule, #17) until `queued_after` past it. Each gets a new SendRequested with a new
id (the first one's id is still in JetStream's duplicate window) in the transaction that marks
the row, so several senders sweeping at once request each row once. A command that arrives
twice anyway is harmless: sending is idempotent by the row's state.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from mailbridge.common.db.mailstore import OutboxEvent
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.types import utcnow
from mailbridge.common.events import EgressSendRequested, SendRequested
from mailbridge.common.outbox_relay import enqueue_many
from mailbridge.sender.model import OutboxStatus
from sqlalchemy import ColumnElement, FromClause, Table, Update, and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

OUTBOX = cast(Table, OutboxMessage.__table__)
_COLUMN = OUTBOX.c
_TIME = _COLUMN.updated_at.type
BATCH = 500  # rows per statement and pass: a large backlog is taken in bounded steps


@dataclass(frozen=True)
class SweepRule:
    stale_after: timedelta  # a `sending` row's claim not renewed for this long: its sender died
    queued_after: timedelta  # a never-claimed `queued` row this old lost its command
    retry_after: timedelta  # a `queued` row waiting for a retry: longer than the longest backoff


@dataclass(frozen=True)
class Swept:
    stale: list[uuid.UUID]  # `sending` rows given back to the queue
    queued: list[uuid.UUID]  # `queued` rows requested again


async def sweep(
    sessions: async_sessionmaker[AsyncSession], egress: bool, rule: SweepRule, include_queued: bool = True
) -> Swept:
    """One pass for one pool (S6: egress rows are swept by egress senders). `include_queued`
    False: only the stale claims (a caller that cannot tell whether commands are still waiting
    to be delivered leaves the `queued` rows alone)."""
    now = utcnow()
    values = {"b_now": now, "b_stale": now - rule.stale_after, "b_queued": now - rule.queued_after,
              "b_retry": now - rule.retry_after, "b_egress": egress}  # fmt: skip
    async with sessions() as session, session.begin():
        stale = list(await session.scalars(_GIVE_BACK, values))
        queued = list(await session.scalars(_REQUEST_AGAIN, values)) if include_queued else []
        command = EgressSendRequested if egress else SendRequested
        await enqueue_many(session, [command(outbox_id=outbox_id) for outbox_id in stale + queued])
    return Swept(stale, queued)


def _stale(rows: FromClause) -> ColumnElement[bool]:
    return and_(
        rows.c.status == OutboxStatus.SENDING.value, rows.c.egress == bindparam("b_egress"),
        rows.c.updated_at < bindparam("b_stale", type_=_TIME),
    )  # fmt: skip


def _lost(rows: FromClause) -> ColumnElement[bool]:
    return and_(
        rows.c.status == OutboxStatus.QUEUED.value, rows.c.egress == bindparam("b_egress"),
        or_(
            and_(rows.c.attempts == 0, rows.c.updated_at < bindparam("b_queued", type_=_TIME)),
            and_(rows.c.attempts > 0, rows.c.updated_at < bindparam("b_retry", type_=_TIME)),
        ),
        ~exists().where(OutboxEvent.id == rows.c.id),  # its first command is still to be published
        # #17: a retry (or a limit wait) is due at next_attempt_at: lost only that long after it
        or_(rows.c.next_attempt_at.is_(None), rows.c.next_attempt_at < bindparam("b_queued", type_=_TIME)),
    )  # fmt: skip


def _bounded(condition: Callable[[FromClause], ColumnElement[bool]], **values: Any) -> Update:
    """At most BATCH rows meeting `condition`, which is checked again on the row being updated:
    on PostgreSQL a second sweeper waits for the first one's rows, then finds them swept."""
    stuck = OUTBOX.alias("stuck")
    chosen = select(stuck.c.id).where(condition(stuck)).order_by(stuck.c.updated_at).limit(BATCH)
    return (
        update(OUTBOX)
        .where(_COLUMN.id.in_(chosen.scalar_subquery()), condition(OUTBOX))
        .values(updated_at=bindparam("b_now", type_=_TIME), **values)
        .returning(_COLUMN.id)
    )


_GIVE_BACK = _bounded(_stale, status=OutboxStatus.QUEUED.value, version=_COLUMN.version + 1)
_REQUEST_AGAIN = _bounded(_lost)
