"""The outbox in SQL for the sender: claim a row, renew the claim, load the mail, record the outcome.

States: queued → sending → sent | failed. A row is claimed by moving it to `sending` (one
conditional UPDATE), so two replicas never send the same row at once. While a process holds a
claim it renews it (`renew_claims`: one UPDATE for every row it holds, every few seconds), so a
claim that is `stale_after` old belongs to a process that died: it is claimed again (the
redelivery), or given back to the queue by the sweep (`sweep`).

The claim returns each row's size (request, attachments, bytes already built) before any of its
data: a mail of up to `INLINE_BYTES` comes with the claim, a larger one is read by `load` once
the sender's byte budget has room for it.

An outcome is kept through a database outage (`record`): a mail the server took (250) or
refused for good must not be sent again because saving that failed. The write is retried on a
connection error, with a short backoff, for up to `stale_after`, while the row stays in `_held`
(the send's claim is let go only after `record` returns). Staleness is judged from the
database's point of view: the sweep and a redelivered claim compare the row's `updated_at`, which
only a renewal written to the database moves, so while the database is away nobody can take the
row, and the renewals, which keep running, move it again once it is back. An outage shorter than
`stale_after` less one renewal period (a third of it) therefore ends with the claim still ours and
the outcome saved at the next try. A longer one makes the row look stale the moment the database
returns, its holder alive or not: the sweep may give it back before our next try, and it is sent
again, as after a crash between 250 and commit (send_outbox.py). Retrying past `stale_after`
would win nothing more, so the error is raised then, as before. A commit whose answer was lost
(the connection cut after COMMIT was sent) is written twice; the second write names the same
outcome.
"""

import asyncio
import logging
import time
import uuid
from datetime import timedelta
from typing import Any, cast

from mailbridge.common.db.outbox import OutboxAttachment, OutboxMessage
from mailbridge.common.db.types import utcnow
from mailbridge.common.seal_keys import SealKeys
from mailbridge.common.secrets import SecretBox
from mailbridge.sender.adapters import accounts, outcomes
from mailbridge.sender.adapters.claim_rows import AnyRow, attachments, claim_of, unappended_of
from mailbridge.sender.adapters.group_commit import GroupCommit
from mailbridge.sender.model import Claim, Found, OutboxStatus, Outcome
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAX_SEAL_RETRIES = 5
INLINE_BYTES = 64 * 1024  # 256 claims in flight × 64 KiB: at most 16 MiB read ahead of the budget
QUEUED, SENDING, SENT, FAILED = (s.value for s in OutboxStatus)  # the status column's values
OUTBOX = cast(Table, OutboxMessage.__table__)
ATTACHMENTS = cast(Table, OutboxAttachment.__table__)
FIRST_BACKOFF_S, LONGEST_BACKOFF_S = 0.1, 1.0  # retrying an outcome while the database is away

logger = logging.getLogger(__name__)


class OutboxStore:
    """Claims and outcomes of concurrent sends are written in shared transactions (group
    commit): under load one statement claims a whole batch and one transaction records many
    outcomes; a single send still runs at once."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox,
        stale_after: timedelta = timedelta(seconds=30), max_batch: int = 256, seals: SealKeys | None = None,
    ) -> None:  # fmt: skip
        self._sessions, self._secrets, self.stale_after = sessions, secrets, stale_after
        self._seals = seals  # G6: the seal key ring (MAILBRIDGE_SEAL_KEY); needed once locking is on
        self._claims = GroupCommit(self._claim_many, max_batch)
        self._outcomes = GroupCommit(self._record_many, max_batch)
        self._held: set[uuid.UUID] = set()  # rows this process moved to `sending` and still sends

    async def claim(self, outbox_id: uuid.UUID) -> Claim:
        """Move the row to `sending` and return it, or say why it is not to be sent now."""
        try:
            return await self._claims.submit(outbox_id)
        except BaseException:
            self._held.discard(outbox_id)  # whether claimed or not, nobody will send it from here
            raise

    def let_go(self, outbox_id: uuid.UUID) -> None:
        """The claim's work is over (recorded, or abandoned: then it goes stale and is redone)."""
        self._held.discard(outbox_id)

    @property
    def held(self) -> int:
        return len(self._held)

    async def renew_claims(self) -> int:
        """Renew every claim this process holds, in one statement; rows another transaction is
        writing right now (their outcome) are skipped rather than waited for."""
        if not self._held:
            return 0
        async with self._sessions() as session, session.begin():
            renewed = await session.execute(_RENEW, {"ids": list(self._held), "now": utcnow()})
        return int(renewed.rowcount)  # type: ignore[attr-defined]

    async def load(self, outbox_id: uuid.UUID) -> Claim:
        """The data of a row claimed (or found unappended) without it: too large to come along."""
        async with self._sessions() as session, session.begin():
            row = (await session.execute(_LOAD, {"ids": [outbox_id]})).first()
            if row is None or row.status in (FAILED, QUEUED):
                return Claim(Found.DONE if row is None or row.status == FAILED else Found.IN_FLIGHT)
            found_senders = await accounts.senders(session, self._secrets, {row.account_id})
            files = await attachments(session, [outbox_id])
        if row.status == SENDING:
            return claim_of(found_senders, row, files.get(outbox_id, []))
        return unappended_of(found_senders, row) if not row.appended_to_sent_folder else Claim(Found.DONE)

    async def record(self, outcome: Outcome) -> None:
        """Record the outcome (and the bytes, when first built) with its event; a sent row under
        G6 ("lock after sending") is sealed into the chain."""
        await self._outcomes.submit(outcome)

    async def appended(self, outbox_id: uuid.UUID) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id)
                .values(appended_to_sent_folder=True)
            )

    async def _claim_many(self, ids: list[uuid.UUID]) -> list[Claim]:
        now = utcnow()
        async with self._sessions() as session, session.begin():
            claimed = {
                row.id: row
                for row in await session.execute(
                    _CLAIM, {"ids": list(set(ids)), "cutoff": now - self.stale_after, "now": now}
                )
            }
            self._held.update(claimed)
            rest = set(ids) - claimed.keys()
            others: dict[uuid.UUID, AnyRow] = {
                row.id: row
                for row in (await session.execute(_UNCLAIMED, {"ids": list(rest)}) if rest else ())
            }
            unappended = {
                key: row
                for key, row in others.items()
                if row.status == SENT and not row.appended_to_sent_folder
            }
            rows = claimed | unappended
            found_senders = await accounts.senders(
                session, self._secrets, {row.account_id for row in rows.values()}
            )
            inline = [key for key, row in claimed.items() if row.request is not None]
            files = await attachments(session, inline)
        results: list[Claim] = []
        given: set[uuid.UUID] = set()
        for outbox_id in ids:
            if outbox_id in claimed and outbox_id not in given:
                given.add(outbox_id)  # the same id twice in one batch: the second waits its turn
                results.append(claim_of(found_senders, claimed[outbox_id], files.get(outbox_id, [])))
            elif outbox_id in claimed or (outbox_id in others and others[outbox_id].status == SENDING):
                results.append(Claim(Found.IN_FLIGHT))
            elif outbox_id in unappended:
                results.append(unappended_of(found_senders, unappended[outbox_id]))
            else:
                results.append(Claim(Found.DONE))
        return results

    async def _record_many(self, found: list[Outcome]) -> list[None]:
        """One transaction for the batch, tried again on a lost connection for up to
        `stale_after` (see the module docstring); other errors are raised at once."""
        deadline, backoff = time.monotonic() + self.stale_after.total_seconds(), FIRST_BACKOFF_S
        pending, retry = found, False
        while True:
            try:
                if retry:  # a connection lost after COMMIT was sent may have recorded them already
                    pending = await self._not_yet_recorded(pending)
                if pending:
                    await self._record_sealed(pending)
                return [None] * len(found)
            except Exception as error:
                if not connection_lost(error) or time.monotonic() + backoff > deadline:
                    raise
                if backoff == FIRST_BACKOFF_S:  # once per outage, not once per try
                    logger.warning("recording %d outcomes failed, will retry: %s", len(found), error)
            await asyncio.sleep(backoff)
            backoff, retry = min(backoff * 2, LONGEST_BACKOFF_S), True

    async def _not_yet_recorded(self, found: list[Outcome]) -> list[Outcome]:
        """The outcomes whose rows do not show them yet: a retry never records one twice (a second
        MailSent, a second G6 seal) when the lost connection had committed the first try."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(_COLUMN.id, _COLUMN.status, _COLUMN.last_reply).where(
                    _COLUMN.id.in_([o.outbox_id for o in found])
                )
            )
            shown = {(row.id, row.status, row.last_reply) for row in rows}
        return [o for o in found if (o.outbox_id, o.status.value, o.reply[:2000]) not in shown]

    async def _record_sealed(self, found: list[Outcome]) -> list[None]:
        for _ in range(MAX_SEAL_RETRIES):
            try:
                async with self._sessions() as session, session.begin():
                    await outcomes.record(session, found, self._seals)
                return [None] * len(found)
            except IntegrityError:  # another replica sealed the same chain position first
                continue
        raise RuntimeError(f"could not seal {len(found)} outbox messages into the chain")


def connection_lost(error: BaseException) -> bool:
    """The database could not be reached or dropped the connection (refused, reset, restarting):
    the same statement may succeed later. A refused connect comes as the bare OSError; a server
    shutting down or starting up answers a connect with SQLSTATE 57P03 (class 57, operator
    intervention), which asyncpg's dialect raises as a plain DBAPIError; class 08 is a lost one."""
    if isinstance(error, DBAPIError):
        sqlstate = str(getattr(error.orig, "sqlstate", None) or "")
        return (
            error.connection_invalidated
            or isinstance(error, OperationalError | InterfaceError)
            or sqlstate[:2] in ("08", "57")
        )
    return isinstance(error, OSError)


_COLUMN = OUTBOX.c
_IDS: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)
_TIME = _COLUMN.updated_at.type
_ATTACHED = (
    select(func.coalesce(func.sum(func.length(ATTACHMENTS.c.data)), 0))
    .where(ATTACHMENTS.c.outbox_id == _COLUMN.id)
    .correlate(OUTBOX)
    .scalar_subquery()
)
# What the mail's data weighs, read without reading it (a length comes from the value's header
# on both databases; the request's text and html bodies count by their characters).
_SIZE = func.coalesce(func.length(_COLUMN.raw), 0) + func.length(sql_cast(_COLUMN.request, Text)) + _ATTACHED


def _if_small(column: Any) -> ColumnElement[Any]:
    return type_coerce(case((_SIZE <= INLINE_BYTES, column), else_=null()), column.type).label(column.key)


_CLAIM_COLUMNS = (
    _COLUMN.id, _COLUMN.account_id, _COLUMN.attempts, _COLUMN.max_attempts, _SIZE.label("size"),
    _if_small(_COLUMN.request), _if_small(_COLUMN.raw), _COLUMN.recipient_states,
)  # fmt: skip
_CLAIM = (
    update(OUTBOX)
    .where(
        _COLUMN.id.in_(_IDS),
        or_(
            _COLUMN.status == QUEUED,
            and_(_COLUMN.status == SENDING, _COLUMN.updated_at < bindparam("cutoff", type_=_TIME)),
        ),
    )
    .values(
        status=SENDING, attempts=_COLUMN.attempts + 1, version=_COLUMN.version + 1,
        updated_at=bindparam("now", type_=_TIME),
    )
    .returning(*_CLAIM_COLUMNS)
)  # fmt: skip
_UNCLAIMED = select(*_CLAIM_COLUMNS, _COLUMN.status, _COLUMN.appended_to_sent_folder).where(
    _COLUMN.id.in_(_IDS)
)
_LOAD = select(
    _COLUMN.id, _COLUMN.account_id, _COLUMN.attempts, _COLUMN.max_attempts, _SIZE.label("size"),
    _COLUMN.request, _COLUMN.raw, _COLUMN.status, _COLUMN.appended_to_sent_folder, _COLUMN.recipient_states,
).where(_COLUMN.id.in_(_IDS))  # fmt: skip
_HELD = (
    select(_COLUMN.id)
    .where(_COLUMN.id.in_(_IDS), _COLUMN.status == SENDING)
    .with_for_update(skip_locked=True)
)
_RENEW = (
    update(OUTBOX)
    .where(_COLUMN.id.in_(_HELD.scalar_subquery()))
    .values(updated_at=bindparam("now", type_=_TIME))
)
