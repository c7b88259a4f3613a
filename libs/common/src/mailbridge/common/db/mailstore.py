"""The mail store: fetched messages (raw bytes and a parsed summary), per-folder sync state,
per-account fetch state, and the transactional outbox of events.

Identity of a fetched message: (account, folder, UIDVALIDITY, UID) for IMAP, (account, UIDL) for
POP3; `sha256` of the raw bytes lets a reload (G5) or a UIDVALIDITY change find what is already
stored. A message, its sync-state advance and its MailFetched outbox row commit together.
"""

import uuid
from datetime import datetime
from typing import Any

from mailbridge.common.db.tables import Base
from mailbridge.common.db.types import UtcDateTime, utcnow
from mailbridge.common.ids import new_id
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

ACCOUNT_FK = "mail_accounts.id"


class StoredMessage(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("uq_messages_imap_identity", "account_id", "folder", "uidvalidity", "uid", unique=True),
        Index("uq_messages_pop3_identity", "account_id", "uidl", unique=True),
        Index("ix_messages_account_sha256", "account_id", "sha256"),
        Index(  # the messages still on the IMAP server (removals, migration 0009)
            "ix_messages_on_server",
            "account_id",
            "folder",
            "uidvalidity",
            "uid",
            sqlite_where=text("removed_on_server_at IS NULL"),
            postgresql_where=text("removed_on_server_at IS NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    business_unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    folder: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    uidl: Mapped[str | None] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    from_address: Mapped[str | None] = mapped_column(Text)
    to_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str | None] = mapped_column(Text)
    sent_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    message_id_header: Mapped[str | None] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[str | None] = mapped_column(Text)
    has_attachments: Mapped[bool] = mapped_column(default=False)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    seen: Mapped[bool] = mapped_column(default=False)
    parse_problem: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # IMAP (S7): when the fetcher found the message gone from its folder on the server (expunged
    # or moved away by another client); the stored bytes stay. None: still there, or POP3.
    removed_on_server_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FolderSyncState(Base):
    """Where the last IMAP sync of one folder ended."""

    __tablename__ = "folder_sync_states"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    folder: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    highest_modseq: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # How the last look for removed messages (S7) left the folder: the last UID and SELECT's
    # EXISTS then, and how many of those messages are not stored (skipped as too large). No
    # checked_last_uid: never looked.
    checked_last_uid: Mapped[int | None] = mapped_column(BigInteger)
    checked_exists: Mapped[int | None] = mapped_column(BigInteger)
    unstored: Mapped[int] = mapped_column(default=0, server_default="0")


class Pop3Seen(Base):
    """POP3: when a UIDL was first downloaded (S12 counts the days from then)."""

    __tablename__ = "pop3_seen"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    uidl: Mapped[str] = mapped_column(String(100), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted_on_server: Mapped[bool] = mapped_column(default=False)


class FetchState(Base):
    """The outcome of an account's last fetch, for people (GET …/fetch-state) and for retries."""

    __tablename__ = "fetch_states"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    permanent: Mapped[bool] = mapped_column(default=False)
    config_version: Mapped[str | None] = mapped_column(String(40))
    last_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    new_messages: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # #15: when fetching turned failing (the first failed fetch since the last success), for
    # account health; cleared by the next ok or partial fetch
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # #17: a certificate failure's SHA-256 fingerprint of the certificate the server presented (hex);
    # automatic fetches stay held back until the server presents another one or the configuration changes
    certificate_sha256: Mapped[str | None] = mapped_column(String(64))


class OutboxEvent(Base):
    """Transactional outbox: events written with the data they describe, published after and then
    deleted (JetStream keeps them); the table holds only what is still to be published."""

    __tablename__ = "outbox_events"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # the W3C trace context of the step that wrote it, published as its header (common.tracing)
    traceparent: Mapped[str | None] = mapped_column(String(55))


class FetchLease(Base):
    """At most one fetch per account at a time, across replicas.

    A lease expires unless renewed; every write of a fetch renews it *by its token* in the same
    transaction, so a replica that stalled past expiry (and lost the lease to another) fails on
    its next write instead of writing behind the new holder's back (a fencing token).
    """

    __tablename__ = "fetch_leases"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class IdleLease(Base):
    """#18: which fetcher replica holds an account's IMAP IDLE connection. Taken and renewed like
    a fetch lease (`fetch_leases`), but apart from it: a fetch runs while its account idles."""

    __tablename__ = "idle_leases"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(200), index=True)
    token: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class IdleReplica(Base):
    """#18: the fetcher replicas that hold IDLE connections, each seen every round, so each can
    work out its share of the accounts (a replica not seen for a lease TTL is gone)."""

    __tablename__ = "idle_replicas"
    holder: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
