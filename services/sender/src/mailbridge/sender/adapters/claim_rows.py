"""Claimed outbox rows as the send use-case sees them: a row and its account's sender → `Claim`.

A row's request is read here; one of the wrong shape makes its claim UNUSABLE (claimed) or DONE
(only its Sent-folder append was left), never an exception that fails the rest of the batch.
"""

import uuid
from typing import Any

from mailbridge.common.db.outbox import OutboxAttachment
from mailbridge.sender.adapters.accounts import Sender
from mailbridge.sender.model import Claim, Claimed, Found
from mailbridge.sender.outgoing import Attachment
from sqlalchemy import BindParameter, Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

AnyRow = Row[*tuple[Any, ...]]  # a row of the outbox columns a statement selects
_IDS: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)
_ATTACHMENT_ROWS = (
    select(OutboxAttachment).where(OutboxAttachment.outbox_id.in_(_IDS)).order_by(OutboxAttachment.id)
)


def claim_of(senders: dict[uuid.UUID, Sender | str], row: AnyRow, files: list[Attachment]) -> Claim:
    sender = senders.get(row.account_id, "its account is gone")
    if isinstance(sender, str):
        return Claim(Found.UNUSABLE, reason=sender, attempt=row.attempts)
    if row.request is None:  # larger than the store's INLINE_BYTES: loaded once the budget has room
        return Claim(Found.CLAIMED, size=row.size)
    try:
        return Claim(Found.CLAIMED, _claimed(sender, row, files), size=row.size)
    except (TypeError, ValueError, AttributeError) as error:  # a stored request of the wrong shape
        return Claim(
            Found.UNUSABLE, reason=f"the stored request cannot be read: {error}", attempt=row.attempts
        )


def unappended_of(senders: dict[uuid.UUID, Sender | str], row: AnyRow) -> Claim:
    sender = senders.get(row.account_id)
    if not isinstance(sender, Sender) or not sender.sent_folder:
        return Claim(Found.DONE)
    if row.request is None:
        return Claim(Found.UNAPPENDED, size=row.size)
    try:
        return Claim(Found.UNAPPENDED, _claimed(sender, row, []), size=row.size)
    except (TypeError, ValueError, AttributeError):
        return Claim(Found.DONE)


def _claimed(sender: Sender, row: AnyRow, files: list[Attachment]) -> Claimed:
    return Claimed(
        mail=sender.mail(row.id, row.request, files), target=sender.target, raw=row.raw,
        attempt=row.attempts, max_attempts=row.max_attempts, sent_folder=sender.sent_folder, imap=sender.imap,
        recipients=row.recipient_states or {}, may_send=sender.account.can_send,
    )  # fmt: skip


async def attachments(
    session: AsyncSession, outbox_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Attachment]]:
    files: dict[uuid.UUID, list[Attachment]] = {}
    if outbox_ids:
        found = await session.scalars(_ATTACHMENT_ROWS, {"ids": outbox_ids})
        for a in found:
            files.setdefault(a.outbox_id, []).append(Attachment(a.filename, a.content_type, a.data))
    return files
