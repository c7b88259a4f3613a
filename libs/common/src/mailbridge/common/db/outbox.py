"""The outbox: mail to send, its state, the exact bytes sent, and the G6 hash chain.

A row moves queued → sending → sent | failed. The sender stores the built bytes before the first
attempt, so a retry sends the same message (same Message-ID) and `raw` is what was sent. With
"lock after sending" (G6) a sent row is sealed: `chain_hash` covers its bytes, its metadata and
the previous sealed row's hash, keyed with the seal key `seal_key_id` names, so a verifier can
name the first row that was altered; triggers refuse to change it (outbox_lock.py).
"""

import uuid
from datetime import datetime
from typing import Any

from mailbridge.common.db.tables import Base, Versioned
from mailbridge.common.db.types import UtcDateTime
from mailbridge.common.ids import new_id
from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column


class OutboxMessage(Versioned, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("uq_outbox_idempotency", "account_id", "idempotency_key", unique=True),
        Index("ix_outbox_chain_seq", "chain_seq", unique=True),
        Index("ix_outbox_status_updated_at", "status", "updated_at"),  # the sender's sweep
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mail_accounts.id", ondelete="RESTRICT"), index=True
    )
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    egress: Mapped[bool] = mapped_column(default=False)  # S6: sent by the dedicated egress pool
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # to, cc, bcc, subject, text, html, threading
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    last_reply: Mapped[str | None] = mapped_column(Text)
    recipient_results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # before 0015: refused only
    # #17: every recipient's state so far (`sender.recipients`); a retry sends to the unsettled ones only
    recipient_states: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # #17: SHA-256 of the mail as requested, so a reused Idempotency-Key with another mail is refused
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    message_id_header: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    appended_to_sent_folder: Mapped[bool] = mapped_column(default=False)
    locked: Mapped[bool] = mapped_column(default=False)
    chain_seq: Mapped[int | None] = mapped_column()
    chain_hash: Mapped[str | None] = mapped_column(String(64))
    # #17: the retry schedule: when the next attempt is due and which answer chose its backoff
    # (sender/retry_policy.py: throttled, greylisted, connection_closed, temporary, network,
    # limit: waiting for a provider limit without spending an attempt); when it was given up
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retry_reason: Mapped[str | None] = mapped_column(String(20))
    gave_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    seal_key_id: Mapped[str | None] = mapped_column(String(16))  # G6: the key of chain_hash's HMAC


class OutboxAttachment(Base):
    __tablename__ = "outbox_attachments"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    outbox_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200))
    data: Mapped[bytes] = mapped_column(LargeBinary)
