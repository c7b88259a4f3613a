"""Helpers for the out-of-office tests (A12): an account's settings and stored fetched messages."""

import hashlib
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime

from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.db.out_of_office import OutOfOffice
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def mail_bytes(
    sender: str, to: str, subject: str = "Meeting on Friday", *, extra: str = "", date: datetime | None = None
) -> bytes:
    """A message as a delivering server stores it, Return-Path first."""
    message_id = f"<{uuid.uuid4().hex}@example.net>"
    head = (
        f"Return-Path: <{sender}>\r\nFrom: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(date or datetime.now(UTC))}\r\nMessage-ID: {message_id}\r\n{extra}"
    )
    return f"{head}\r\nHello.\r\n".encode()


async def set_out_of_office(
    sessions: async_sessionmaker[AsyncSession],
    account_id: uuid.UUID,
    *,
    enabled: bool = True,
    interval: int = 7,
) -> None:
    async with sessions() as session:
        session.add(
            OutOfOffice(
                account_id=account_id,
                enabled=enabled,
                subject="Out of office",
                body="Back on Monday.\n",
                reply_interval_days=interval,
            )
        )
        await session.commit()


async def store_message(
    sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID, raw: bytes, folder: str = "INBOX"
) -> uuid.UUID:
    """A fetched message in the store, as the fetcher writes it (the summary left out)."""
    async with sessions() as session:
        row = StoredMessage(
            account_id=account_id, folder=folder, uidvalidity=1, uid=uuid.uuid4().int % 2**31,
            sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), raw=raw,
        )  # fmt: skip
        session.add(row)
        await session.commit()
        return row.id
