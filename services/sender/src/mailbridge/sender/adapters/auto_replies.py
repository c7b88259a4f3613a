"""The out-of-office store (A12) on SQL: the settings read, the stored message's header fields, and
the one transaction that records a decision and queues the reply.

`record` in one transaction:
1. insert the decision (`auto_replied_messages`, primary key the stored message's id): a second
   decision for one message — a redelivered MailFetched, a reload (G5), two replicas — fails on
   insert and the whole transaction is dropped, so nothing is sent twice;
2. for a reply, claim the correspondent with one conditional upsert (`INSERT … ON CONFLICT DO
   UPDATE … WHERE last_replied_at <= now − interval RETURNING`): no row back means a reply went
   to that sender within the interval (two racing messages: PostgreSQL re-checks the WHERE on the
   row the first one wrote), and the decision reads `recently_replied`;
3. claimed: the outbox row (as the API queues a mail: `request` with to, subject, text, threading
   and the `Auto-Submitted` header; Idempotency-Key `auto-reply:<message id>`; requested by the
   account's owning user, so the outbox shows it to them under G3) and its
   SendRequested (EgressSendRequested under S6) through the transactional outbox.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, cast

from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.db.out_of_office import AutoRepliedMessage, AutoReplyCorrespondent, OutOfOffice
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.events import EgressSendRequested, SendRequested
from mailbridge.common.outbox_relay import enqueue
from mailbridge.sender.auto_reply_ports import Headers, Recorded, Situation
from mailbridge.sender.auto_reply_rules import AUTO_REPLIED, AUTO_SUBMITTED, Account, Hold, Reply
from mailbridge.sender.auto_reply_rules import OutOfOffice as Settings
from sqlalchemy import BindParameter, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

INBOX = "INBOX"
REPLIED = "replied"
HEADER_BYTES = 64 * 1024  # read of each message at most: header blocks are a few KB
_ACCOUNT: BindParameter[uuid.UUID] = bindparam("account_id")
_SITUATION = (
    select(OutOfOffice, MailAccount, MailServer.send_via_server)
    .join(MailAccount, MailAccount.id == OutOfOffice.account_id)
    .join(MailServer, MailServer.id == MailAccount.server_id)
    .where(OutOfOffice.account_id == _ACCOUNT, OutOfOffice.enabled.is_(True))
)
_HEADERS = select(func.substr(StoredMessage.raw, 1, HEADER_BYTES)).where(StoredMessage.id == bindparam("id"))
_CORRESPONDENTS = cast(Table, AutoReplyCorrespondent.__table__)
_NOW = bindparam("now", type_=_CORRESPONDENTS.c.last_replied_at.type)
_CUTOFF = bindparam("cutoff", type_=_CORRESPONDENTS.c.last_replied_at.type)


def _claim(insert: Any) -> Insert:
    statement = insert(_CORRESPONDENTS).values(
        account_id=bindparam("account_id"), correspondent=bindparam("correspondent"), last_replied_at=_NOW
    )
    claimed: Insert = statement.on_conflict_do_update(
        index_elements=[_CORRESPONDENTS.c.account_id, _CORRESPONDENTS.c.correspondent],
        set_={"last_replied_at": _NOW},
        where=_CORRESPONDENTS.c.last_replied_at <= _CUTOFF,
    ).returning(_CORRESPONDENTS.c.account_id)
    return claimed


CLAIM: Mapping[str, Insert] = {"postgresql": _claim(postgresql.insert), "sqlite": _claim(sqlite.insert)}


class AutoReplies:
    """AutoReplyStore on the service's database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def situation(self, account_id: uuid.UUID) -> Situation | None:
        async with self._sessions() as session:
            found = (await session.execute(_SITUATION, {"account_id": account_id})).first()
        if found is None:
            return None
        settings, account, egress = found
        return Situation(
            account_id,
            Settings(
                enabled=settings.enabled, subject=settings.subject, body=settings.body,
                starts_at=settings.starts_at, ends_at=settings.ends_at,
                reply_interval_days=settings.reply_interval_days, saved_at=settings.updated_at,
            ),
            Account(
                address=account.address, inbox_folder=account.inbox_folder or INBOX,
                may_set_out_of_office=account.can_set_out_of_office, can_send=account.can_send,
            ),
            egress=bool(egress), owner_user_id=account.owner_user_id,
        )  # fmt: skip

    async def headers(self, message_id: uuid.UUID) -> Headers | None:
        async with self._sessions() as session:
            raw = await session.scalar(_HEADERS, {"id": message_id})
        return None if raw is None else header_fields(bytes(raw))

    async def record(
        self, message_id: uuid.UUID, situation: Situation, decision: Reply | Hold, now: datetime
    ) -> tuple[Recorded, str]:
        try:
            async with self._sessions() as session, session.begin():
                outcome = REPLIED if isinstance(decision, Reply) else decision.value
                row = AutoRepliedMessage(
                    message_id=message_id, account_id=situation.account_id, outcome=outcome, decided_at=now
                )
                session.add(row)
                await session.flush()  # a decision already there ends it here (IntegrityError)
                if not isinstance(decision, Reply):
                    return Recorded.HELD, outcome
                if not await _claimed(session, situation, decision, now):
                    row.outcome = Hold.RECENTLY_REPLIED.value
                    return Recorded.HELD, row.outcome
                row.outbox_id = await _queue(session, message_id, situation, decision)
                return Recorded.QUEUED, outcome
        except IntegrityError:  # decided before, or the message was deleted meanwhile
            return Recorded.ALREADY_DECIDED, "already_decided"


async def _claimed(session: AsyncSession, situation: Situation, reply: Reply, now: datetime) -> bool:
    cutoff = now - timedelta(days=situation.settings.reply_interval_days)
    values = {
        "account_id": situation.account_id,
        "correspondent": reply.correspondent,
        "now": now,
        "cutoff": cutoff,
    }
    return (await session.execute(CLAIM[session.get_bind().dialect.name], values)).first() is not None


async def _queue(
    session: AsyncSession, message_id: uuid.UUID, situation: Situation, reply: Reply
) -> uuid.UUID:
    row = OutboxMessage(
        account_id=situation.account_id, requested_by_user_id=situation.owner_user_id,
        egress=situation.egress, idempotency_key=f"auto-reply:{message_id}", request=outbox_request(reply),
    )  # fmt: skip
    session.add(row)
    await session.flush()
    command = EgressSendRequested if row.egress else SendRequested
    enqueue(session, command(event_id=row.id, outbox_id=row.id))
    return row.id


def outbox_request(reply: Reply) -> dict[str, Any]:
    """The outbox row's `request`, in the shape the API stores a mail in (plus `headers`)."""
    return {
        "to": [reply.to], "cc": [], "bcc": [], "subject": reply.subject, "text": reply.body, "html": None,
        "in_reply_to": reply.in_reply_to, "references": list(reply.references),
        "headers": {AUTO_SUBMITTED: AUTO_REPLIED},
    }  # fmt: skip


def header_fields(raw: bytes) -> dict[str, list[str]]:
    """The header fields of a message's first bytes, as compat32 reads them (lower-case names);
    bytes that are not UTF-8 become U+FFFD."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))
    parsed = BytesHeaderParser(policy=compat32).parsebytes(raw[: end + 4])
    fields: dict[str, list[str]] = {}
    for name, value in parsed.raw_items():
        text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        fields.setdefault(name.lower(), []).append(text)
    return fields
