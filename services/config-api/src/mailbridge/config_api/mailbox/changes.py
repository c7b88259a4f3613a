"""Routes that change a stored message: read/unread (PATCH) and move to trash or spam (S10, A11).

The store changes at once; on IMAP accounts the same change is queued for the fetcher, which
applies it on the server (STORE \\Seen, MOVE). The command is committed with the store change
through the transactional outbox, so an accepted change is never lost, also while NATS is down
(the relay publishes it when NATS is back). IMAP download and POP3 keep such changes local: they
do not synchronise with the server, and POP3 has no folders to move to. So does a message removed
on the server (S7, `removed_on_server_at`): read/unread stays local, and a move is refused (409).
"""

import uuid
from typing import Literal

from fastapi import APIRouter, status
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.endpoints import IncomingProtocol
from mailbridge.common.events import MailboxAction, MailboxChangeRequested
from mailbridge.common.outbox_relay import enqueue
from mailbridge.config_api.deps import CtxDep, RelayWakeDep
from mailbridge.config_api.errors import Conflict
from mailbridge.config_api.mailbox.router import MessageOut, load_message
from mailbridge.config_api.problems import PROBLEM_RESPONSES
from mailbridge.config_api.schemas import RequestModel, example
from mailbridge.config_api.store import commit
from pydantic import BaseModel

router = APIRouter(tags=["mailbox"], responses=PROBLEM_RESPONSES)


class MessagePatch(RequestModel):
    model_config = example(seen=True)
    seen: bool


class MoveRequest(RequestModel):
    model_config = example(to="trash")
    to: Literal["trash", "spam"]


class MoveQueued(BaseModel):
    message_id: uuid.UUID
    action: MailboxAction


async def _protocol(ctx: CtxDep, account_id: uuid.UUID) -> IncomingProtocol:
    account = await ctx.session.get(MailAccount, account_id)
    assert account is not None
    server = await ctx.session.get(MailServer, account.server_id)
    assert server is not None
    return IncomingProtocol(server.incoming_protocol)


@router.patch("/messages/{message_id}", operation_id="update_message")
async def update_message(
    ctx: CtxDep, relay_wake: RelayWakeDep, message_id: uuid.UUID, body: MessagePatch
) -> MessageOut:
    message = await load_message(ctx, message_id)
    message.seen = body.seen
    others = [flag for flag in message.flags if flag != "\\Seen"]
    message.flags = [*others, "\\Seen"] if body.seen else others
    on_server = message.removed_on_server_at is None
    on_server = on_server and await _protocol(ctx, message.account_id) is IncomingProtocol.IMAP
    if on_server:
        action = MailboxAction.MARK_SEEN if body.seen else MailboxAction.MARK_UNSEEN
        enqueue(ctx.session, MailboxChangeRequested(message_id=message_id, action=action))
    await commit(ctx.session)
    if on_server:
        relay_wake.set()
    return MessageOut.model_validate(message, from_attributes=True)


@router.post("/messages/{message_id}/move", status_code=status.HTTP_202_ACCEPTED, operation_id="move_message")
async def move_message(
    ctx: CtxDep, relay_wake: RelayWakeDep, message_id: uuid.UUID, body: MoveRequest
) -> MoveQueued:
    message = await load_message(ctx, message_id)
    if await _protocol(ctx, message.account_id) is not IncomingProtocol.IMAP:
        raise Conflict("only IMAP accounts have trash and spam folders on the server (S10)")
    if message.removed_on_server_at is not None:
        raise Conflict("the message was removed on the server (S7): there is nothing left to move")
    action = MailboxAction.MOVE_TO_TRASH if body.to == "trash" else MailboxAction.MOVE_TO_SPAM
    enqueue(ctx.session, MailboxChangeRequested(message_id=message_id, action=action))
    await commit(ctx.session)
    relay_wake.set()
    return MoveQueued(message_id=message_id, action=action)
