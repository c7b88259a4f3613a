"""Account health bodies (O4, O5): what a person needs to see that an account stopped working."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class HealthState(StrEnum):
    OK = "ok"
    FAILING = "failing"
    NEEDS_RECONNECT = "needs_reconnect"  # OAuth: the grant is gone, a person must connect again


class LastFetch(BaseModel):
    status: Literal["ok", "partial", "failed", "never"]
    finished_at: datetime | None
    error: str | None


class LastSend(BaseModel):
    status: Literal["sent", "failed", "never"]
    at: datetime | None
    error: str | None = Field(description="the server's last reply when the mail failed")


class AccountHealth(BaseModel):
    state: HealthState
    reason: str | None = Field(description="why the account is failing or needs reconnecting")
    last_fetch: LastFetch
    last_send: LastSend
    failing_since: datetime | None = Field(
        description="the earliest failure on record of those that make the account fail; None when ok"
    )


class FailingAccount(BaseModel):
    account_id: uuid.UUID
    address: str
    health: AccountHealth


class FailingAccounts(BaseModel):
    items: list[FailingAccount]
