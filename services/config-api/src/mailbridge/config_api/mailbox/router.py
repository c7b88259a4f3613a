"""Routes of the mailbox read API: an account's messages, one message, its raw bytes (G1).

A message removed on the IMAP server by another client (S7, `removed_on_server_at`) stays
stored: `GET /messages/{id}` and its raw bytes still answer, but an account's list leaves it out
unless asked with `include_removed=true`, as a person who deleted it elsewhere expects."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.config_api import crud
from mailbridge.config_api.deps import CtxDep
from mailbridge.config_api.errors import Forbidden, NotFound
from mailbridge.config_api.mail_accounts.service import MailAccounts
from mailbridge.config_api.mail_settings.service import load_settings
from mailbridge.config_api.paging import Page, PageRequest, fetch_page, page_request
from mailbridge.config_api.problems import PROBLEM_RESPONSES
from mailbridge.config_api.resource import Ctx
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import undefer

router = APIRouter(tags=["mailbox"], responses=PROBLEM_RESPONSES)
accounts = MailAccounts()
PageDep = Annotated[PageRequest, Depends(page_request)]


class MessageOut(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    business_unit_id: uuid.UUID | None
    folder: str
    from_address: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    subject: str | None
    sent_date: datetime | None
    message_id_header: str | None
    in_reply_to: str | None
    references: str | None
    size: int
    sha256: str
    has_attachments: bool
    flags: list[str]
    seen: bool
    parse_problem: str | None
    fetched_at: datetime
    removed_on_server_at: datetime | None = Field(
        description="when the fetcher found the message gone from its folder on the IMAP server "
        "(deleted or moved away by another client); the stored copy stays. null: still there"
    )


async def _mailbox_allowed(ctx: Ctx) -> None:
    if not ctx.principal.is_admin and (await load_settings(ctx.session)).hide_mailbox:
        raise Forbidden("the mailbox is hidden for users (G1)")


async def load_message(ctx: Ctx, message_id: uuid.UUID, with_raw: bool = False) -> StoredMessage:
    await _mailbox_allowed(ctx)
    statement = select(StoredMessage).where(StoredMessage.id == message_id)
    if with_raw:
        statement = statement.options(undefer(StoredMessage.raw))
    message = await ctx.session.scalar(statement)
    if message is None:
        raise NotFound(f"message {message_id} does not exist")
    try:
        await crud.get_row(accounts, ctx, message.account_id)
    except NotFound as error:
        raise NotFound(f"message {message_id} does not exist") from error
    return message


@router.get("/mail-accounts/{account_id}/messages", operation_id="list_messages")
async def list_messages(
    ctx: CtxDep, account_id: uuid.UUID, page: PageDep,
    folder: Annotated[str | None, Query(max_length=300)] = None,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
    include_removed: Annotated[bool, Query(description="true: also messages removed on the server")] = False,
    search: Annotated[str | None, Query(max_length=200, description="only messages whose sender or "
                                        "subject contains this text (any case)")] = None,
    newest_first: Annotated[bool, Query(description="true: the newest fetched message first")] = False,
) -> Page[MessageOut]:  # fmt: skip
    await _mailbox_allowed(ctx)
    await crud.get_row(accounts, ctx, account_id)
    statement = select(StoredMessage).where(StoredMessage.account_id == account_id)
    if search and search.strip():
        pattern = "%" + _like_escaped(search.strip().lower()) + "%"
        statement = statement.where(
            or_(
                func.lower(StoredMessage.from_address).like(pattern, escape="\\"),
                func.lower(StoredMessage.subject).like(pattern, escape="\\"),
            )
        )
    if folder is not None:
        statement = statement.where(StoredMessage.folder == folder)
    if unread is not None:
        statement = statement.where(StoredMessage.seen.is_(not unread))
    if not include_removed:
        statement = statement.where(StoredMessage.removed_on_server_at.is_(None))
    rows, cursor = await fetch_page(ctx.session, statement, StoredMessage, page, newest_first=newest_first)
    return Page(items=[MessageOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


def _like_escaped(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@router.get("/messages/{message_id}", operation_id="get_message")
async def get_message(ctx: CtxDep, message_id: uuid.UUID) -> MessageOut:
    return MessageOut.model_validate(await load_message(ctx, message_id), from_attributes=True)


@router.get(
    "/messages/{message_id}/raw",
    operation_id="get_message_raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)
async def get_message_raw(ctx: CtxDep, message_id: uuid.UUID) -> Response:
    message = await load_message(ctx, message_id, with_raw=True)
    return Response(content=message.raw, media_type="message/rfc822")
