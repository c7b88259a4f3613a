"""Routes: POST /mail-accounts/{id}/messages, the outbox view, raw bytes, changes, verification."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.config_api.deps import AdminDep, CtxDep, IfMatch, RelayWakeDep
from mailbridge.config_api.errors import NotFound
from mailbridge.config_api.outbox import intake, service, verification
from mailbridge.config_api.outbox.schemas import OutboxOut, OutboxPatch
from mailbridge.config_api.outbox.verification import ChainReport
from mailbridge.config_api.paging import Page, PageRequest, fetch_page, page_request
from mailbridge.config_api.problems import PROBLEM_RESPONSES, problem_docs
from mailbridge.config_api.store import etag
from sqlalchemy import select

router = APIRouter(tags=["outbox"], responses=PROBLEM_RESPONSES)
PageDep = Annotated[PageRequest, Depends(page_request)]


def _out(row: OutboxMessage, response: Response | None = None) -> OutboxOut:
    if response is not None:
        response.headers["ETag"] = etag(row)
    return OutboxOut.model_validate(row, from_attributes=True)


@router.post(
    "/mail-accounts/{account_id}/messages", status_code=status.HTTP_202_ACCEPTED, operation_id="send_mail",
    openapi_extra=intake.OPENAPI, responses=problem_docs(415),
)  # fmt: skip
async def send_mail(
    ctx: CtxDep, relay_wake: RelayWakeDep, request: Request, account_id: uuid.UUID, response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> OutboxOut:  # fmt: skip
    """Queue a mail (A6–A9): JSON or multipart/form-data, see the request body. 202 once the row
    and its SendRequested are committed; the outbox relay publishes the command (NATS may be
    down meanwhile: it leaves when NATS is back)."""
    max_bytes: int = request.app.state.outbox_max_bytes
    account = await service.sending_account(ctx, account_id)
    draft = await intake.read_draft(request, max_bytes)
    row, new = await service.queue_mail(ctx, account, draft, idempotency_key, max_bytes)
    if new:
        relay_wake.set()
    return _out(row, response)


@router.get("/outbox", operation_id="list_outbox")
async def list_outbox(
    ctx: CtxDep, page: PageDep, account_id: Annotated[uuid.UUID | None, Query()] = None,
    newest_first: Annotated[bool, Query(description="true: the newest mail first")] = False,
) -> Page[OutboxOut]:  # fmt: skip
    await service.require_outbox_view(ctx)
    statement = select(OutboxMessage)
    scope = service.visible_rows(ctx)
    if scope is not None:
        statement = statement.where(scope)
    if account_id is not None:
        statement = statement.where(OutboxMessage.account_id == account_id)
    rows, cursor = await fetch_page(ctx.session, statement, OutboxMessage, page, newest_first=newest_first)
    return Page(items=[_out(row) for row in rows], next_cursor=cursor)


@router.get("/outbox/verify", operation_id="verify_outbox_chain", responses=problem_docs(503))
async def verify_outbox_chain(request: Request, _: AdminDep) -> ChainReport:
    """G6: every sealed row, the chain and the signed checkpoints; names the first row that breaks
    (`mailbridge outbox verify` is the same check from the command line)."""
    return await verification.verify_chain(request)


@router.get("/outbox/{outbox_id}", operation_id="get_outbox_message")
async def get_outbox_message(ctx: CtxDep, outbox_id: uuid.UUID, response: Response) -> OutboxOut:
    return _out(await service.get_outbox_row(ctx, outbox_id), response)


@router.get(
    "/outbox/{outbox_id}/raw", operation_id="get_outbox_raw", response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)  # fmt: skip
async def get_outbox_raw(ctx: CtxDep, outbox_id: uuid.UUID) -> Response:
    row = await service.get_outbox_row(ctx, outbox_id, with_raw=True)
    if row.raw is None:
        raise NotFound(f"outbox message {outbox_id} has not been built yet (status {row.status})")
    return Response(content=row.raw, media_type="message/rfc822")


@router.patch("/outbox/{outbox_id}", operation_id="update_outbox_message")
async def update_outbox_message(
    ctx: CtxDep, outbox_id: uuid.UUID, body: OutboxPatch, response: Response, if_match: IfMatch = None
) -> OutboxOut:
    return _out(await service.change_queued(ctx, outbox_id, body, if_match), response)


@router.delete(
    "/outbox/{outbox_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_outbox_message"
)
async def delete_outbox_message(ctx: CtxDep, outbox_id: uuid.UUID, if_match: IfMatch = None) -> None:
    await service.delete_row(ctx, outbox_id, if_match)
