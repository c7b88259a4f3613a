"""Out-of-office (A12): the account's settings and what was answered, so a reload (G5), a
redelivered MailFetched or two replicas never reply twice.

- `out_of_office`: one row per account (enabled, subject, body, the period, the reply interval).
- `auto_replied_messages`: one row per fetched message a decision was taken for (replied or why
  not); its primary key is the stored message's id, so a second decision for one message fails
  on insert instead of sending a second reply.
- `auto_reply_correspondents`: when each correspondent of an account last got a reply; claimed
  with one conditional upsert (`INSERT … ON CONFLICT DO UPDATE … WHERE last_replied_at < cutoff`),
  so at most one reply per sender and interval even when two messages race.
"""

import uuid
from datetime import datetime

from mailbridge.common.db.tables import Base
from mailbridge.common.db.types import UtcDateTime, utcnow
from sqlalchemy import ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

ACCOUNT_FK = "mail_accounts.id"


class OutOfOffice(Base):
    __tablename__ = "out_of_office"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reply_interval_days: Mapped[int] = mapped_column(default=7)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AutoRepliedMessage(Base):
    __tablename__ = "auto_replied_messages"
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(40))  # "replied", or the rule that held the reply back
    outbox_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the reply's outbox row
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AutoReplyCorrespondent(Base):
    __tablename__ = "auto_reply_correspondents"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    correspondent: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower-cased address
    last_replied_at: Mapped[datetime] = mapped_column(UtcDateTime)
