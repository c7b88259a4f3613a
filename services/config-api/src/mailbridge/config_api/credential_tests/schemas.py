"""The credentials test's answers: the report (also the account's `last_test`), and a run."""

import uuid
from datetime import datetime
from typing import Literal

from mailbridge.common.credential_checks import StepReport
from pydantic import BaseModel, Field


class ReportOut(BaseModel):
    ok: bool = Field(description="no step failed (a skipped step is no failure)")
    steps: list[StepReport] = Field(description="resolve … cleanup, in this order")
    finished_at: datetime


class CredentialTestOut(BaseModel):
    """One run: `report` once it is finished."""

    id: uuid.UUID
    account_id: uuid.UUID
    status: Literal["running", "finished"]
    started_at: datetime
    finished_at: datetime | None
    report: ReportOut | None
    url: str = Field(description="where to poll this run")
