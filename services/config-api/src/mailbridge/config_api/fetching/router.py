"""Routes: POST /mail-accounts/{id}/fetch (manual fetch, G4; reload, G5) and the fetch state."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.events import FetchReason, FetchRequested
from mailbridge.config_api import crud
from mailbridge.config_api.commands import publish_command
from mailbridge.config_api.deps import CtxDep, MessagingDep
from mailbridge.config_api.errors import Conflict, Forbidden
from mailbridge.config_api.mail_accounts.service import MailAccounts
from mailbridge.config_api.mail_settings.service import load_settings
from mailbridge.config_api.problems import PROBLEM_RESPONSES, problem_docs
from pydantic import BaseModel

router = APIRouter(tags=["fetching"], responses=PROBLEM_RESPONSES)
UNAVAILABLE = problem_docs(503)
accounts = MailAccounts()


class FetchQueued(BaseModel):
    account_id: uuid.UUID
    reason: FetchReason
    command_id: uuid.UUID


class FetchStateOut(BaseModel):
    account_id: uuid.UUID
    status: str
    reason: str | None
    permanent: bool
    last_started_at: datetime | None
    last_finished_at: datetime | None
    new_messages: int
    counts: dict[str, Any]


@router.post(
    "/mail-accounts/{account_id}/fetch", status_code=status.HTTP_202_ACCEPTED, operation_id="fetch_mail",
    responses=UNAVAILABLE,
)  # fmt: skip
async def fetch_mail(
    ctx: CtxDep, messaging: MessagingDep, account_id: uuid.UUID,
    reload: Annotated[bool, Query(description="download everything again, without duplicates (G5)")] = False,
) -> FetchQueued:  # fmt: skip
    account = await crud.get_row(accounts, ctx, account_id)
    settings = await load_settings(ctx.session)
    if not ctx.principal.is_admin:
        if settings.disallow_manual_fetch and settings.fetch_interval_minutes is not None:
            raise Forbidden("manual fetching is switched off while a schedule exists (G4)")
        if reload and not settings.users_can_reload:
            raise Forbidden("reloading mail is not allowed for users (G5)")
    if not account.can_receive:
        raise Conflict(f"mail account {account_id} may not receive mail (A10)")
    reason = FetchReason.RELOAD if reload else FetchReason.MANUAL
    who = "admin" if ctx.principal.is_admin else f"user:{ctx.principal.user_id}"
    command = FetchRequested(account_id=account_id, reason=reason, requested_by=who)
    await publish_command(messaging, command, "fetch")
    return FetchQueued(account_id=account_id, reason=reason, command_id=command.event_id)


@router.get("/mail-accounts/{account_id}/fetch-state", operation_id="get_fetch_state")
async def get_fetch_state(ctx: CtxDep, account_id: uuid.UUID) -> FetchStateOut:
    await crud.get_row(accounts, ctx, account_id)
    state = await ctx.session.get(FetchState, account_id)
    if state is None:
        return FetchStateOut(
            account_id=account_id, status="never", reason=None, permanent=False,
            last_started_at=None, last_finished_at=None, new_messages=0, counts={},
        )  # fmt: skip
    return FetchStateOut.model_validate(state, from_attributes=True)
