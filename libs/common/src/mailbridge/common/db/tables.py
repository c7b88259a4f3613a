"""The tables of the configuration half: directory, OAuth providers, servers, settings, accounts.

SQLAlchemy classes only; the HTTP schemas live in config-api. Every configuration row carries a
`version` that SQLAlchemy checks on UPDATE (optimistic concurrency, S13).
"""

import uuid
from datetime import datetime
from typing import Any

from mailbridge.common.db.types import UtcDateTime, utcnow
from mailbridge.common.ids import new_id
from sqlalchemy import JSON, CheckConstraint, ForeignKey, MetaData, String, Uuid, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Versioned:
    """Identity, optimistic-concurrency version and timestamps shared by configuration rows."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}


def _fk(target: str, ondelete: str = "RESTRICT") -> ForeignKey:
    return ForeignKey(target, ondelete=ondelete)


class BusinessUnit(Versioned, Base):
    __tablename__ = "business_units"
    name: Mapped[str] = mapped_column(String(200), unique=True)


class User(Versioned, Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    business_unit_id: Mapped[uuid.UUID | None] = mapped_column(_fk("business_units.id"))


class Group(Versioned, Base):
    __tablename__ = "groups"
    name: Mapped[str] = mapped_column(String(200), unique=True)


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[uuid.UUID] = mapped_column(_fk("groups.id", "CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.id", "CASCADE"), primary_key=True, index=True)


class OAuthProvider(Versioned, Base):
    __tablename__ = "oauth_providers"
    name: Mapped[str] = mapped_column(String(200), unique=True)
    server_type: Mapped[str] = mapped_column(String(40))
    use_default_settings: Mapped[bool] = mapped_column(default=False)
    authority: Mapped[str | None] = mapped_column(String(500))
    tenant: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[str | None] = mapped_column(String(200))
    client_secret_encrypted: Mapped[str | None] = mapped_column(String(2000))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)


class MailServer(Versioned, Base):
    __tablename__ = "mail_servers"
    name: Mapped[str] = mapped_column(String(200), unique=True)
    oauth_provider_id: Mapped[uuid.UUID | None] = mapped_column(_fk("oauth_providers.id"))
    smtp_host: Mapped[str] = mapped_column(String(300))
    smtp_encryption: Mapped[str] = mapped_column(String(10))
    smtp_auth: Mapped[bool] = mapped_column(default=True)
    # #17 (S4): AUTH over `smtp_encryption: none` to a host off loopback only when this says so
    allow_plaintext_auth: Mapped[bool] = mapped_column(default=False, server_default=false())
    send_via_server: Mapped[bool] = mapped_column(default=False)
    incoming_protocol: Mapped[str] = mapped_column(String(20))
    incoming_host: Mapped[str] = mapped_column(String(300))
    incoming_tls: Mapped[bool] = mapped_column(default=True)
    incoming_tls_mode: Mapped[str] = mapped_column(String(10), default="auto")
    trash_folder: Mapped[str | None] = mapped_column(String(300))
    spam_folder: Mapped[str | None] = mapped_column(String(300))
    sent_folder: Mapped[str | None] = mapped_column(String(300))
    delete_after_fetch: Mapped[bool] = mapped_column(default=False)
    delete_after_days: Mapped[int | None] = mapped_column()
    # #17: provider limits shared by every replica (common/provider_limits.py): a preset
    # (microsoft365, gmail; null: none) and the server's own value for each limit, which wins
    limits_preset: Mapped[str | None] = mapped_column(String(20))
    smtp_connections_per_login: Mapped[int | None] = mapped_column()
    imap_connections_per_login: Mapped[int | None] = mapped_column()
    messages_per_minute_per_mailbox: Mapped[int | None] = mapped_column()
    messages_per_day_per_mailbox: Mapped[int | None] = mapped_column()
    recipients_per_day_per_mailbox: Mapped[int | None] = mapped_column()
    messages_per_minute_per_server: Mapped[int | None] = mapped_column()
    # #18: IMAP IDLE push for this server's IMAP accounts (false: they are polled only)
    push: Mapped[bool] = mapped_column(default=True, server_default=true())


class MailSettings(Versioned, Base):
    """The singleton row of global mail settings (G1–G6)."""

    __tablename__ = "mail_settings"
    hide_mailbox: Mapped[bool] = mapped_column(default=False)
    fetch_interval_minutes: Mapped[int | None] = mapped_column(default=15)
    show_outbox_folder: Mapped[bool] = mapped_column(default=True)
    disallow_manual_fetch: Mapped[bool] = mapped_column(default=False)
    users_can_reload: Mapped[bool] = mapped_column(default=False)
    lock_after_send: Mapped[bool] = mapped_column(default=False)
    # #18: webhook targets on loopback or private ranges (never link-local or cloud metadata)
    webhooks_allow_private_targets: Mapped[bool] = mapped_column(default=False, server_default=false())


class MailAccount(Versioned, Base):
    __tablename__ = "mail_accounts"
    __table_args__ = (
        CheckConstraint("(owner_user_id IS NULL) <> (owner_group_id IS NULL)", name="exactly_one_owner"),
    )
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id"), index=True)
    owner_group_id: Mapped[uuid.UUID | None] = mapped_column(_fk("groups.id"), index=True)
    server_id: Mapped[uuid.UUID] = mapped_column(_fk("mail_servers.id"), index=True)
    login: Mapped[str] = mapped_column(String(320))
    password_encrypted: Mapped[str | None] = mapped_column(String(2000))
    business_unit_id: Mapped[uuid.UUID | None] = mapped_column(_fk("business_units.id"))
    address: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    alias: Mapped[str | None] = mapped_column(String(200))
    can_send: Mapped[bool] = mapped_column(default=True)
    send_bcc: Mapped[str | None] = mapped_column(String(320))
    can_receive: Mapped[bool] = mapped_column(default=True)
    inbox_folder: Mapped[str | None] = mapped_column(String(300))
    trash_folder: Mapped[str | None] = mapped_column(String(300))
    spam_folder: Mapped[str | None] = mapped_column(String(300))
    sync_folders: Mapped[list[str]] = mapped_column(JSON, default=list)
    can_set_out_of_office: Mapped[bool] = mapped_column(default=False)
    oauth_state: Mapped[str] = mapped_column(String(20), default="disconnected")
    oauth_reason: Mapped[str | None] = mapped_column(
        String(500)
    )  # why needs_reconnect, in the provider's words


class ApiKey(Base):
    """An API key: only a SHA-256 of its secret part is kept."""

    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    role: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "CASCADE"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
