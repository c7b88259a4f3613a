"""The outbox in SQL for the sender: claim a row, keep the built bytes, record the outcome, seal.

States: queued → sending → sent | failed. A row is claimed by moving it to `sending` (one
transaction, guarded by its version), so two replicas never send the same row at once; a row
left in `sending` by a crash is claimed again after `stale_after` (the redelivery).
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mailbridge.common.db.outbox import OutboxAttachment, OutboxMessage
from mailbridge.common.db.tables import MailAccount, MailServer, MailSettings
from mailbridge.common.db.types import utcnow
from mailbridge.common.endpoints import (
    IncomingProtocol,
    SmtpEncryption,
    TlsMode,
    incoming_port,
    incoming_security,
    parse_host_port,
    smtp_port,
)
from mailbridge.common.events import MailSent, Message, SendFailed
from mailbridge.common.outbox_chain import GENESIS, SealedRow, row_hash
from mailbridge.common.outbox_relay import enqueue
from mailbridge.common.secrets import SecretBox
from mailbridge.sender.outgoing import Attachment, ImapServer, OutgoingMail, SmtpTarget
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

MAX_SEAL_RETRIES = 5


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


class OutboxStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox) -> None:
        self._sessions, self._secrets = sessions, secrets

    async def claim(self, outbox_id: uuid.UUID, stale_after: timedelta) -> Claimed | None:
        """Move the row to `sending` and return it; None when it is done or being sent."""
        async with self._sessions() as session, session.begin():
            row = await _row(session, outbox_id)
            if row is None or row.status in ("sent", "failed"):
                return None
            if row.status == "sending" and row.updated_at > utcnow() - stale_after:
                return None
            row.status, row.attempts = "sending", row.attempts + 1
            return await self._claimed(session, row)

    async def in_flight(self, outbox_id: uuid.UUID) -> bool:
        """Whether the row is being sent right now (claimed, not yet stale)."""
        async with self._sessions() as session:
            status = await session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == outbox_id))
            return status == "sending"

    async def unappended(self, outbox_id: uuid.UUID) -> Claimed | None:
        """A sent row whose Sent-folder append (S10) has not happened yet."""
        async with self._sessions() as session:
            row = await _row(session, outbox_id)
            if row is None or row.status != "sent" or row.appended_to_sent_folder:
                return None
            claimed = await self._claimed(session, row)
            return claimed if claimed.sent_folder else None

    async def _claimed(self, session: AsyncSession, row: OutboxMessage) -> Claimed:
        account = await session.get(MailAccount, row.account_id)
        server = await session.get(MailServer, account.server_id) if account else None
        assert account is not None
        assert server is not None
        files = await session.scalars(select(OutboxAttachment).where(OutboxAttachment.outbox_id == row.id))
        attachments = [Attachment(a.filename, a.content_type, a.data) for a in files]
        return Claimed(
            mail=_mail(row, account, attachments),
            target=_target(server, account, self._secrets), raw=row.raw, attempt=row.attempts,
            max_attempts=row.max_attempts,
            sent_folder=server.sent_folder if server.incoming_protocol != "pop3" else None,
            imap=_imap(server),
        )  # fmt: skip

    async def finish(
        self, outbox_id: uuid.UUID, status: str, reply: str, recipients: dict[str, Any],
        built: tuple[bytes, str] | None = None,
    ) -> None:  # fmt: skip
        """Record the outcome (and the bytes, when first built) with its event; a sent row under
        G6 ("lock after sending") is sealed into the chain."""
        for _ in range(MAX_SEAL_RETRIES):
            try:
                async with self._sessions() as session, session.begin():
                    row = await session.get(OutboxMessage, outbox_id, options=[undefer(OutboxMessage.raw)])
                    assert row is not None
                    row.status, row.last_reply, row.recipient_results = status, reply[:2000], recipients
                    if built is not None:
                        row.raw, row.message_id_header = built
                    event: Message
                    if status == "sent":
                        row.sent_at = utcnow()
                        if await _lock_after_send(session):
                            await _seal(session, row)
                        event = MailSent(outbox_id=outbox_id, smtp_reply=reply[:500], attempt=row.attempts)
                    else:
                        event = SendFailed(outbox_id=outbox_id, smtp_reply=reply[:500], attempt=row.attempts)
                    enqueue(session, event)
                return
            except IntegrityError:  # another replica sealed the same chain position first
                continue
        raise RuntimeError(f"could not seal outbox message {outbox_id} into the chain")

    async def requeue(self, outbox_id: uuid.UUID, reply: str, built: tuple[bytes, str] | None = None) -> None:
        """Back to `queued` for a retry, keeping the bytes so the retry sends the same mail."""
        values: dict[str, Any] = {"status": "queued", "last_reply": reply[:2000]}
        if built is not None:
            values |= {"raw": built[0], "message_id_header": built[1]}
        async with self._sessions() as session, session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(**values))

    async def appended(self, outbox_id: uuid.UUID) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id)
                .values(appended_to_sent_folder=True)
            )


async def _row(session: AsyncSession, outbox_id: uuid.UUID) -> OutboxMessage | None:
    statement = select(OutboxMessage).where(OutboxMessage.id == outbox_id).options(undefer(OutboxMessage.raw))
    return await session.scalar(statement)


async def _seal(session: AsyncSession, row: OutboxMessage) -> None:
    last = await session.execute(
        select(OutboxMessage.chain_seq, OutboxMessage.chain_hash).where(
            OutboxMessage.chain_seq == select(func.max(OutboxMessage.chain_seq)).scalar_subquery()
        )
    )
    found = last.first()
    seq, previous = ((found[0] or 0) + 1, found[1] or GENESIS) if found else (1, GENESIS)
    sealed = SealedRow(
        id=str(row.id), seq=seq, account_id=str(row.account_id), message_id_header=row.message_id_header,
        sent_at=row.sent_at, request=row.request, raw=row.raw or b"", stored_hash=None,
    )  # fmt: skip
    row.locked, row.chain_seq, row.chain_hash = True, seq, row_hash(previous, sealed)
    await session.flush()


async def _lock_after_send(session: AsyncSession) -> bool:
    settings = await session.scalar(select(MailSettings).limit(1))
    return bool(settings and settings.lock_after_send)


def _mail(row: OutboxMessage, account: MailAccount, attachments: list[Attachment]) -> OutgoingMail:
    request = row.request
    return OutgoingMail(
        outbox_id=row.id, from_address=account.address, alias=account.alias, reply_to=account.reply_to,
        to=tuple(request.get("to", [])), cc=tuple(request.get("cc", [])), bcc=tuple(request.get("bcc", [])),
        account_bcc=account.send_bcc, subject=request.get("subject", ""), text=request.get("text"),
        html=request.get("html"), attachments=tuple(attachments), in_reply_to=request.get("in_reply_to"),
        references=tuple(request.get("references", [])),
        message_id_domain=account.address.rsplit("@", 1)[-1],
    )  # fmt: skip


def _imap(server: MailServer) -> ImapServer:
    endpoint, protocol = parse_host_port(server.incoming_host), IncomingProtocol(server.incoming_protocol)
    return ImapServer(
        endpoint.host,
        incoming_port(endpoint, protocol, server.incoming_tls),
        incoming_security(endpoint, protocol, server.incoming_tls, TlsMode(server.incoming_tls_mode)),
    )


def _target(server: MailServer, account: MailAccount, secrets: SecretBox) -> SmtpTarget:
    endpoint = parse_host_port(server.smtp_host)
    encryption = SmtpEncryption(server.smtp_encryption)
    password = secrets.decrypt(account.password_encrypted) if account.password_encrypted else None
    return SmtpTarget(
        host=endpoint.host, port=smtp_port(endpoint, encryption), encryption=encryption.value,
        auth=server.smtp_auth, login=account.login, password=password,
    )  # fmt: skip
