"""The outcome of a send in SQL: the row's new state, its event, and the G6 seal of sent rows."""

import uuid
from datetime import datetime
from typing import Any, cast

from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailSettings
from mailbridge.common.db.types import utcnow
from mailbridge.common.events import MailSent, Message, SendFailed
from mailbridge.common.outbox_chain import GENESIS, SealedRow, row_seal
from mailbridge.common.outbox_checkpoints import checkpoint
from mailbridge.common.outbox_relay import enqueue_many
from mailbridge.common.seal_keys import SealKeyError, SealKeys
from mailbridge.sender.model import OutboxStatus, Outcome
from mailbridge.sender.retry_policy import schedule_of
from sqlalchemy import BindParameter, Boolean, Table, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

OUTBOX = cast(Table, OutboxMessage.__table__)
_COLUMN = OUTBOX.c
_TIME = _COLUMN.updated_at.type
_STATES = _COLUMN.recipient_states.type
_IDS: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)


_RECORD = (
    update(OUTBOX)
    .where(_COLUMN.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"), last_reply=bindparam("b_reply"),
        recipient_states=case(  # #17: an outcome without recipients' states keeps those stored
            (bindparam("b_has_recipients", type_=Boolean), bindparam("b_recipients", type_=_STATES)),
            else_=_COLUMN.recipient_states,
        ),
        raw=func.coalesce(bindparam("b_raw", type_=_COLUMN.raw.type), _COLUMN.raw),
        message_id_header=func.coalesce(
            bindparam("b_message_id", type_=_COLUMN.message_id_header.type), _COLUMN.message_id_header
        ),
        sent_at=func.coalesce(bindparam("b_sent_at", type_=_TIME), _COLUMN.sent_at),
        version=_COLUMN.version + 1, updated_at=bindparam("b_now", type_=_TIME),
        # #17: the retry schedule; a limit wait gives back the attempt its claim counted
        attempts=_COLUMN.attempts - bindparam("b_refund"), retry_reason=bindparam("b_retry_reason"),
        next_attempt_at=bindparam("b_next_attempt_at", type_=_TIME),
        gave_up_at=func.coalesce(bindparam("b_gave_up_at", type_=_TIME), _COLUMN.gave_up_at),
    )
)  # fmt: skip
_SEALING = select(
    _COLUMN.id, _COLUMN.account_id, _COLUMN.message_id_header, _COLUMN.sent_at, _COLUMN.request, _COLUMN.raw
).where(_COLUMN.id.in_(_IDS))


async def record(session: AsyncSession, outcomes: list[Outcome], seals: SealKeys | None = None) -> None:
    now = utcnow()
    await session.execute(_RECORD, [
        {
            "b_id": o.outbox_id, "b_status": o.status.value, "b_reply": o.reply[:2000],
            "b_has_recipients": o.recipients is not None, "b_recipients": o.recipients or {},
            "b_raw": o.built[0] if o.built else None, "b_message_id": o.built[1] if o.built else None,
            "b_sent_at": now if o.status is OutboxStatus.SENT else None, "b_now": now,
            **_schedule(o, now),
        }
        for o in outcomes
    ])  # fmt: skip
    events: list[Message] = [
        (MailSent if o.status is OutboxStatus.SENT else SendFailed)(
            outbox_id=o.outbox_id, smtp_reply=o.reply[:500], attempt=o.attempt
        )
        for o in outcomes
        if o.status is not OutboxStatus.QUEUED
    ]
    await enqueue_many(session, events)
    sent = [o.outbox_id for o in outcomes if o.status is OutboxStatus.SENT]
    if sent and await _lock_after_send(session):
        if seals is None:
            raise SealKeyError("G6 is on and this sender has no seal key (MAILBRIDGE_SEAL_KEY)")
        await _seal(session, sent, seals)


async def _seal(session: AsyncSession, sent: list[uuid.UUID], seals: SealKeys) -> None:
    """G6: chain the sent rows after the last sealed one, in the order given, under the newest
    seal key; one signed checkpoint of the new head per batch goes out through the outbox."""
    last = await session.execute(
        select(OUTBOX.c.chain_seq, OUTBOX.c.chain_hash).where(
            OUTBOX.c.chain_seq == select(func.max(OUTBOX.c.chain_seq)).scalar_subquery()
        )
    )
    found = last.first()
    seq, previous = (found[0], found[1] or GENESIS) if found else (0, GENESIS)
    rows = {row.id: row for row in await session.execute(_SEALING, {"ids": sent})}
    sealed, key_id = [], seals.newest_id
    for outbox_id in sent:
        row, seq = rows[outbox_id], seq + 1
        previous = row_seal(seals, previous, SealedRow(
            id=str(row.id), seq=seq, account_id=str(row.account_id), message_id_header=row.message_id_header,
            sent_at=row.sent_at, request=row.request, raw=row.raw or b"", stored_hash=None,
        ))  # fmt: skip
        sealed.append({"b_id": outbox_id, "b_seq": seq, "b_hash": previous})
    await session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("b_id"))
        .values(
            locked=True, chain_seq=bindparam("b_seq"), chain_hash=bindparam("b_hash"), seal_key_id=key_id
        ),
        sealed,
    )
    await enqueue_many(session, [checkpoint(seals, seq, sent[-1], previous)])


def _schedule(o: Outcome, now: datetime) -> dict[str, Any]:
    found = schedule_of(o.outbox_id, o.status, o.reply, o.attempt, now)
    return {
        "b_refund": int(found.refund), "b_retry_reason": found.reason and found.reason.value,
        "b_next_attempt_at": found.next_attempt_at, "b_gave_up_at": found.gave_up_at,
    }  # fmt: skip


async def _lock_after_send(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(MailSettings.lock_after_send).limit(1)))
