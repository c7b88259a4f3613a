"""Credential tests (T1, O5): each run and its report, the last one shown on the account.

A run is `running` until its report is written (`finished`). The partial unique index allows one
running test per account, so a second request joins the running one instead of starting another.
"""

import uuid
from datetime import datetime
from typing import Any

from mailbridge.common.db.tables import Base
from mailbridge.common.db.types import UtcDateTime, utcnow
from mailbridge.common.ids import new_id
from sqlalchemy import JSON, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

_RUNNING = text("status = 'running'")


class CredentialTest(Base):
    __tablename__ = "credential_tests"
    __table_args__ = (
        Index(
            "uq_credential_tests_running", "account_id", unique=True,
            sqlite_where=_RUNNING, postgresql_where=_RUNNING,
        ),
        Index("ix_credential_tests_account_started", "account_id", "started_at"),
    )  # fmt: skip
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mail_accounts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="running")  # running | finished
    ok: Mapped[bool | None] = mapped_column()
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"ok", "steps": [...], "finished_at"}
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
