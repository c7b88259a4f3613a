"""The outbox in SQL for the sender: claim a row, keep the built bytes, record the outcome, seal.

States: queued → sending → sent | failed. A row is claimed by moving it to `sending` (one
conditional UPDATE), so two replicas never send the same row at once; a row left in `sending` by
a crash is claimed again after `stale_after` (the redelivery).
"""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, cast

from mailbridge.common.db.outbox import OutboxAttachment, OutboxMessage
from mailbridge.common.db.tables import MailAccount, MailServer, MailSettings
from mailbridge.common.db.types import utcnow
from mailbridge.common.endpoints import (
    SmtpEncryption,
    incoming_endpoint,
    parse_host_port,
    smtp_port,
)
from mailbridge.common.events import MailSent, Message, SendFailed
from mailbridge.common.group_commit import GroupCommit
from mailbridge.common.outbox_chain import GENESIS, SealedRow, row_hash
from mailbridge.common.outbox_relay import enqueue_many
from mailbridge.common.secrets import SecretBox, SecretKeyError
from mailbridge.sender.outgoing import Attachment, ImapServer, OutgoingMail, SmtpTarget
from sqlalchemy import BindParameter, Row, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAX_SEAL_RETRIES = 5
OUTBOX = cast(Table, OutboxMessage.__table__)
AnyRow = Row[*tuple[Any, ...]]  # a row of the outbox columns a statement selects


class Found(StrEnum):
    CLAIMED = "claimed"  # moved to `sending`: send it now
    IN_FLIGHT = "in_flight"  # being sent by another worker (claimed, not yet stale)
    UNAPPENDED = "unappended"  # sent, but the Sent-folder append (S10) is still to do
    DONE = "done"  # sent or failed (or gone): nothing to do
    UNUSABLE = "unusable"  # claimed, but its account cannot send (say, a password no key decrypts)


@dataclass(frozen=True)
class Claimed:
    """A claimed outbox row: what to send, where, and the bytes if already built."""

    mail: OutgoingMail
    target: SmtpTarget
    raw: bytes | None
    attempt: int
    max_attempts: int
    sent_folder: str | None
    imap: ImapServer


@dataclass(frozen=True)
class Claim:
    found: Found
    row: Claimed | None = None  # for CLAIMED and UNAPPENDED
    reason: str = ""  # for UNUSABLE
    attempt: int = 0  # for UNUSABLE: the attempt this claim counted


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: `sent`, `failed`, or `queued` again for a retry."""

    outbox_id: uuid.UUID
    status: str
    reply: str
    attempt: int
    recipients: dict[str, Any] = field(default_factory=dict)
    built: tuple[bytes, str] | None = None  # the bytes and Message-ID, when built by this attempt


@dataclass(frozen=True)
class _Sender:
    account: MailAccount
    target: SmtpTarget
    imap: ImapServer
    sent_folder: str | None

    def claimed(self, row: AnyRow, attachments: list[Attachment]) -> Claimed:
        return Claimed(
            mail=_mail(row.id, row.request, self.account, attachments), target=self.target, raw=row.raw,
            attempt=row.attempts, max_attempts=row.max_attempts, sent_folder=self.sent_folder, imap=self.imap,
        )  # fmt: skip


class OutboxStore:
    """Claims and outcomes of concurrent sends are written in shared transactions (group
    commit): under load one statement claims a whole batch and one transaction records many
    outcomes; a single send still runs at once."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox,
        stale_after: timedelta = timedelta(minutes=5), max_batch: int = 256,
    ) -> None:  # fmt: skip
        self._sessions, self._secrets, self._stale_after = sessions, secrets, stale_after
        self._claims = GroupCommit(self._claim_many, max_batch)
        self._outcomes = GroupCommit(self._record_many, max_batch)

    async def claim(self, outbox_id: uuid.UUID) -> Claim:
        """Move the row to `sending` and return it, or say why it is not to be sent now."""
        return await self._claims.submit(outbox_id)

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
                    _CLAIM, {"ids": list(set(ids)), "cutoff": now - self._stale_after, "now": now}
                )
            }
            rest = set(ids) - claimed.keys()
            others: dict[uuid.UUID, AnyRow] = {
                row.id: row
                for row in (await session.execute(_UNCLAIMED, {"ids": list(rest)}) if rest else ())
            }
            unappended = {
                key: row
                for key, row in others.items()
                if row.status == "sent" and not row.appended_to_sent_folder
            }
            rows = claimed | unappended
            senders = await self._senders(session, {row.account_id for row in rows.values()})
            files = await _attachments(session, list(claimed))
        results: list[Claim] = []
        given: set[uuid.UUID] = set()
        for outbox_id in ids:
            if outbox_id in claimed and outbox_id not in given:
                given.add(outbox_id)  # the same id twice in one batch: the second waits its turn
                results.append(_claim(senders, claimed[outbox_id], files.get(outbox_id, [])))
            elif outbox_id in claimed or (outbox_id in others and others[outbox_id].status == "sending"):
                results.append(Claim(Found.IN_FLIGHT))
            elif outbox_id in unappended:
                claim = _claim(senders, unappended[outbox_id], [])
                usable = claim.row is not None and claim.row.sent_folder
                results.append(Claim(Found.UNAPPENDED, claim.row) if usable else Claim(Found.DONE))
            else:
                results.append(Claim(Found.DONE))
        return results

    async def _senders(
        self, session: AsyncSession, account_ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, "_Sender | str"]:
        """Where and as whom each account sends, worked out once per batch; for an account that
        cannot send, the reason (one account's problem never fails the rest of the batch)."""
        senders: dict[uuid.UUID, _Sender | str] = {}
        if account_ids:
            for account, server in await session.execute(_SENDERS, {"ids": list(account_ids)}):
                try:
                    senders[account.id] = _Sender(
                        account, _target(server, account, self._secrets), _imap(server),
                        server.sent_folder if server.incoming_protocol != "pop3" else None,
                    )  # fmt: skip
                except (SecretKeyError, ValueError) as error:
                    senders[account.id] = f"account {account.address}: {error}"
        return senders

    async def _record_many(self, outcomes: list[Outcome]) -> list[None]:
        for _ in range(MAX_SEAL_RETRIES):
            try:
                async with self._sessions() as session, session.begin():
                    await _record(session, outcomes)
                return [None] * len(outcomes)
            except IntegrityError:  # another replica sealed the same chain position first
                continue
        raise RuntimeError(f"could not seal {len(outcomes)} outbox messages into the chain")


_COLUMN = OUTBOX.c
_CLAIM_COLUMNS = (
    _COLUMN.id, _COLUMN.account_id, _COLUMN.request, _COLUMN.raw, _COLUMN.attempts, _COLUMN.max_attempts
)  # fmt: skip
_IDS: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)
_TIME = _COLUMN.updated_at.type
_CLAIM = (
    update(OUTBOX)
    .where(
        _COLUMN.id.in_(_IDS),
        or_(
            _COLUMN.status == "queued",
            and_(_COLUMN.status == "sending", _COLUMN.updated_at < bindparam("cutoff", type_=_TIME)),
        ),
    )
    .values(
        status="sending", attempts=_COLUMN.attempts + 1, version=_COLUMN.version + 1,
        updated_at=bindparam("now", type_=_TIME),
    )
    .returning(*_CLAIM_COLUMNS)
)  # fmt: skip
_UNCLAIMED = select(*_CLAIM_COLUMNS, _COLUMN.status, _COLUMN.appended_to_sent_folder).where(
    _COLUMN.id.in_(_IDS)
)
_SENDERS = (
    select(MailAccount, MailServer)
    .join(MailServer, MailServer.id == MailAccount.server_id)
    .where(MailAccount.id.in_(_IDS))
)
_ATTACHMENTS = (
    select(OutboxAttachment).where(OutboxAttachment.outbox_id.in_(_IDS)).order_by(OutboxAttachment.id)
)
_RECORD = (
    update(OUTBOX)
    .where(_COLUMN.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"), last_reply=bindparam("b_reply"),
        recipient_results=bindparam("b_recipients", type_=_COLUMN.recipient_results.type),
        raw=func.coalesce(bindparam("b_raw", type_=_COLUMN.raw.type), _COLUMN.raw),
        message_id_header=func.coalesce(
            bindparam("b_message_id", type_=_COLUMN.message_id_header.type), _COLUMN.message_id_header
        ),
        sent_at=func.coalesce(bindparam("b_sent_at", type_=_TIME), _COLUMN.sent_at),
        version=_COLUMN.version + 1, updated_at=bindparam("b_now", type_=_TIME),
    )
)  # fmt: skip
_SEALING = select(
    _COLUMN.id, _COLUMN.account_id, _COLUMN.message_id_header, _COLUMN.sent_at, _COLUMN.request, _COLUMN.raw
).where(_COLUMN.id.in_(_IDS))


async def _record(session: AsyncSession, outcomes: list[Outcome]) -> None:
    now = utcnow()
    await session.execute(_RECORD, [
        {
            "b_id": o.outbox_id, "b_status": o.status, "b_reply": o.reply[:2000],
            "b_recipients": o.recipients,
            "b_raw": o.built[0] if o.built else None, "b_message_id": o.built[1] if o.built else None,
            "b_sent_at": now if o.status == "sent" else None, "b_now": now,
        }
        for o in outcomes
    ])  # fmt: skip
    events: list[Message] = [
        (MailSent if o.status == "sent" else SendFailed)(
            outbox_id=o.outbox_id, smtp_reply=o.reply[:500], attempt=o.attempt
        )
        for o in outcomes
        if o.status in ("sent", "failed")
    ]
    await enqueue_many(session, events)
    sent = [o.outbox_id for o in outcomes if o.status == "sent"]
    if sent and await _lock_after_send(session):
        await _seal(session, sent)


def _claim(senders: dict[uuid.UUID, "_Sender | str"], row: AnyRow, files: list[Attachment]) -> Claim:
    sender = senders.get(row.account_id, "its account is gone")
    if isinstance(sender, str):
        return Claim(Found.UNUSABLE, reason=sender, attempt=row.attempts)
    try:
        return Claim(Found.CLAIMED, sender.claimed(row, files))
    except (TypeError, ValueError, AttributeError) as error:  # a stored request of the wrong shape
        return Claim(
            Found.UNUSABLE, reason=f"the stored request cannot be read: {error}", attempt=row.attempts
        )


async def _attachments(
    session: AsyncSession, outbox_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Attachment]]:
    files: dict[uuid.UUID, list[Attachment]] = {}
    if outbox_ids:
        found = await session.scalars(_ATTACHMENTS, {"ids": outbox_ids})
        for a in found:
            files.setdefault(a.outbox_id, []).append(Attachment(a.filename, a.content_type, a.data))
    return files


async def _seal(session: AsyncSession, sent: list[uuid.UUID]) -> None:
    """G6: chain the sent rows after the last sealed one, in the order given."""
    last = await session.execute(
        select(OUTBOX.c.chain_seq, OUTBOX.c.chain_hash).where(
            OUTBOX.c.chain_seq == select(func.max(OUTBOX.c.chain_seq)).scalar_subquery()
        )
    )
    found = last.first()
    seq, previous = (found[0], found[1] or GENESIS) if found else (0, GENESIS)
    rows = {row.id: row for row in await session.execute(_SEALING, {"ids": sent})}
    seals = []
    for outbox_id in sent:
        row, seq = rows[outbox_id], seq + 1
        previous = row_hash(previous, SealedRow(
            id=str(row.id), seq=seq, account_id=str(row.account_id), message_id_header=row.message_id_header,
            sent_at=row.sent_at, request=row.request, raw=row.raw or b"", stored_hash=None,
        ))  # fmt: skip
        seals.append({"b_id": outbox_id, "b_seq": seq, "b_hash": previous})
    await session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("b_id"))
        .values(locked=True, chain_seq=bindparam("b_seq"), chain_hash=bindparam("b_hash")),
        seals,
    )


async def _lock_after_send(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(MailSettings.lock_after_send).limit(1)))


def _mail(
    outbox_id: uuid.UUID, request: dict[str, Any], account: MailAccount, attachments: list[Attachment]
) -> OutgoingMail:
    return OutgoingMail(
        outbox_id=outbox_id, from_address=account.address, alias=account.alias, reply_to=account.reply_to,
        to=tuple(request.get("to", [])), cc=tuple(request.get("cc", [])), bcc=tuple(request.get("bcc", [])),
        account_bcc=account.send_bcc, subject=request.get("subject", ""), text=request.get("text"),
        html=request.get("html"), attachments=tuple(attachments), in_reply_to=request.get("in_reply_to"),
        references=tuple(request.get("references", [])),
        message_id_domain=account.address.rsplit("@", 1)[-1],
    )  # fmt: skip


def _imap(server: MailServer) -> ImapServer:
    found = incoming_endpoint(
        server.incoming_host, server.incoming_protocol, server.incoming_tls, server.incoming_tls_mode
    )
    return ImapServer(found.host, found.port, found.security)


def _target(server: MailServer, account: MailAccount, secrets: SecretBox) -> SmtpTarget:
    endpoint = parse_host_port(server.smtp_host)
    encryption = SmtpEncryption(server.smtp_encryption)
    password = secrets.decrypt(account.password_encrypted) if account.password_encrypted else None
    return SmtpTarget(
        host=endpoint.host, port=smtp_port(endpoint, encryption), encryption=encryption.value,
        auth=server.smtp_auth, login=account.login, password=password,
    )  # fmt: skip
