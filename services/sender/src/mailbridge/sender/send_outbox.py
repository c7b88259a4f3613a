"""Send one outbox mail: claim → build → SMTP → record → append to the Sent folder (S10).

Sent means sent once: a redelivered SendRequested for a sent row does nothing but finish a
missing Sent-folder append. The bytes are kept with the first outcome, so a retry sends the
same mail. A crash between the server's 250 and our commit can send it once more: the row is
then still `sending`, is claimed again after `stale_after` and rebuilt with the same Message-ID
(it derives from the outbox id). That repeat is unavoidable without the server's help.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from mailbridge.common.db.types import utcnow
from mailbridge.sender.adapters.store import Claimed, OutboxStore
from mailbridge.sender.ports import Builder, DeliveryOutcome, Mailer, SentFolder, SentFolderFailure


class Settle(StrEnum):
    ACK = "ack"
    RETRY = "retry"


@dataclass(frozen=True)
class SendDeps:
    store: OutboxStore
    build: Builder
    mailer: Mailer
    sent_folder: SentFolder
    stale_after: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class SendResult:
    settle: Settle
    detail: str
    attempt: int = 0


async def send_outbox(deps: SendDeps, outbox_id: uuid.UUID) -> SendResult:
    claimed = await deps.store.claim(outbox_id, deps.stale_after)
    if claimed is None:
        if await deps.store.in_flight(outbox_id):
            # Another replica is sending it, or a crashed one was: look again after the claim
            # went stale, never drop the command while the row is not finished.
            return SendResult(Settle.RETRY, "being sent by another replica", 0)
        unappended = await deps.store.unappended(outbox_id)
        if unappended is None or unappended.raw is None:
            return SendResult(Settle.ACK, "already sent or failed")
        return await _append(
            deps, outbox_id, unappended, unappended.raw, deps.build(unappended.mail, utcnow()).message_id
        )
    built = deps.build(claimed.mail, utcnow())
    raw = claimed.raw or built.raw
    new_bytes = None if claimed.raw else (built.raw, built.message_id)
    delivery = await deps.mailer.deliver(claimed.target, raw, built.envelope_from, built.envelope_to)
    if delivery.outcome is DeliveryOutcome.SENT:
        await deps.store.finish(outbox_id, "sent", delivery.reply, delivery.recipients, new_bytes)
        if claimed.sent_folder:
            return await _append(deps, outbox_id, claimed, raw, built.message_id)
        return SendResult(Settle.ACK, delivery.reply, claimed.attempt)
    if delivery.outcome is DeliveryOutcome.PERMANENT or claimed.attempt >= claimed.max_attempts:
        await deps.store.finish(outbox_id, "failed", delivery.reply, delivery.recipients, new_bytes)
        return SendResult(Settle.ACK, delivery.reply, claimed.attempt)
    await deps.store.requeue(outbox_id, delivery.reply, new_bytes)
    return SendResult(Settle.RETRY, delivery.reply, claimed.attempt)


async def _append(
    deps: SendDeps, outbox_id: uuid.UUID, claimed: Claimed, raw: bytes, message_id: str
) -> SendResult:
    """S10: the sent mail goes to the Sent folder once; a temporary failure is tried again."""
    assert claimed.sent_folder is not None
    try:
        await deps.sent_folder.append_once(claimed.target, claimed.imap, claimed.sent_folder, raw, message_id)
    except SentFolderFailure as failure:
        if failure.temporary:
            return SendResult(Settle.RETRY, f"sent; Sent folder later: {failure.reason}", claimed.attempt)
        return SendResult(Settle.ACK, f"sent; not in the Sent folder: {failure.reason}", claimed.attempt)
    await deps.store.appended(outbox_id)
    return SendResult(Settle.ACK, "sent and filed in the Sent folder", claimed.attempt)
