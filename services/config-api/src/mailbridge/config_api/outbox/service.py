"""Outbox use-cases: queue a mail (idempotent) with its send command, read, change or delete it
while queued (G6's verification: verification.py)."""

import uuid
from typing import Any

from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.db.outbox import OutboxAttachment, OutboxMessage
from mailbridge.common.db.tables import GroupMember, MailAccount, MailServer
from mailbridge.common.events import EgressSendRequested, SendRequested
from mailbridge.common.outbox_relay import enqueue
from mailbridge.config_api import crud
from mailbridge.config_api.errors import Conflict, Forbidden, NotFound, ValidationFailed, invalid
from mailbridge.config_api.mail_accounts.service import MailAccounts
from mailbridge.config_api.mail_settings.service import load_settings
from mailbridge.config_api.outbox.fingerprint import request_sha256
from mailbridge.config_api.outbox.schemas import MailDraft, MailFields, OutboxPatch
from mailbridge.config_api.resource import Ctx
from mailbridge.config_api.store import check_if_match, commit
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import undefer

accounts = MailAccounts()
# in_reply_to is stored as the threading headers it resolves to
_STORED_FIELDS = set(MailFields.model_fields) - {"in_reply_to"}


async def sending_account(ctx: Ctx, account_id: uuid.UUID) -> MailAccount:
    """The account the caller may send from: 404 when it is not theirs, 403 under A8. The read
    transaction ends here, so no database connection waits while a client uploads the mail."""
    account = await crud.get_row(accounts, ctx, account_id)
    if not account.can_send:
        raise Forbidden(f"mail account {account_id} may not send (A8)")
    await ctx.session.commit()
    return account


def too_large(max_bytes: int) -> ValidationFailed:
    """The answer to a mail over the configured limit, whether found while reading or after."""
    return invalid("attachments", "size", f"the mail is larger than {max_bytes} bytes")


def key_reused(key: str, first: uuid.UUID) -> ValidationFailed:
    """The answer to an Idempotency-Key that came with another mail before (#17)."""
    return invalid(
        "Idempotency-Key", "idempotency_key_reused",
        f"Idempotency-Key {key!r} was already used for a different mail (outbox message {first}); "
        "send that same mail again to get it back, or use a new key for a new mail",
    )  # fmt: skip


def mail_size(draft: MailDraft) -> int:
    """What counts against the limit: the attachments' bytes and the text and html bodies."""
    bodies = (draft.fields.text or "") + (draft.fields.html or "")
    return sum(len(attachment.data) for attachment in draft.attachments) + len(bodies)


async def queue_mail(
    ctx: Ctx, account: MailAccount, draft: MailDraft, idempotency_key: str | None, max_bytes: int
) -> tuple[OutboxMessage, bool]:
    """The queued row, and whether it is new (False: the Idempotency-Key was seen before, with
    the same mail; with another mail it is refused, #17)."""
    fingerprint = request_sha256(draft)
    if idempotency_key:
        existing = await ctx.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.account_id == account.id, OutboxMessage.idempotency_key == idempotency_key
            )
        )
        if existing is not None:
            if existing.request_sha256 not in (None, fingerprint):  # None: queued before 0015
                raise key_reused(idempotency_key, existing.id)
            return existing, False
    fields = draft.fields
    if not (fields.to or fields.cc or fields.bcc):
        raise invalid("to", "recipients", "at least one recipient (to, cc or bcc) is needed")
    if mail_size(draft) > max_bytes:
        raise too_large(max_bytes)
    server = await ctx.session.get(MailServer, account.server_id)
    assert server is not None
    request: dict[str, Any] = fields.model_dump(mode="json", include=_STORED_FIELDS)
    request |= await _threading(ctx, account.id, fields.in_reply_to)
    row = OutboxMessage(
        account_id=account.id, requested_by_user_id=ctx.principal.user_id, idempotency_key=idempotency_key,
        egress=server.send_via_server, request=request, request_sha256=fingerprint,
    )  # fmt: skip
    ctx.session.add(row)
    await ctx.session.flush()
    ctx.session.add_all(
        OutboxAttachment(outbox_id=row.id, filename=a.filename, content_type=a.content_type, data=a.data)
        for a in draft.attachments
    )
    enqueue(ctx.session, send_command(row))
    await commit(ctx.session)
    return row, True


def send_command(row: OutboxMessage) -> SendRequested:
    """The row's command to the sender (S6: egress mail to its own pool). It leaves through the
    transactional outbox with the row, so a row is never committed without its command; its id
    is the row's, so `Nats-Msg-Id` is the outbox id and JetStream drops a second publish."""
    command = EgressSendRequested if row.egress else SendRequested
    return command(event_id=row.id, outbox_id=row.id)


async def _threading(ctx: Ctx, account_id: uuid.UUID, answered: uuid.UUID | None) -> dict[str, Any]:
    """In-Reply-To and References taken from the stored message being answered."""
    if answered is None:
        return {}
    message = await ctx.session.get(StoredMessage, answered)
    if message is None or message.account_id != account_id:
        raise invalid("in_reply_to", "reference", f"message {answered} is not in this account's mailbox")
    references = (message.references or "").split()
    if message.message_id_header:
        references.append(message.message_id_header)
    return {"in_reply_to": message.message_id_header, "references": references}


def visible_rows(ctx: Ctx) -> ColumnElement[bool] | None:
    """G3: a user sees the mail they sent and the mail of their groups' accounts."""
    if ctx.principal.is_admin:
        return None
    groups = select(GroupMember.group_id).where(GroupMember.user_id == ctx.principal.user_id)
    group_accounts = select(MailAccount.id).where(MailAccount.owner_group_id.in_(groups))
    return or_(
        OutboxMessage.requested_by_user_id == ctx.principal.user_id,
        OutboxMessage.account_id.in_(group_accounts),
    )


async def require_outbox_view(ctx: Ctx) -> None:
    if not ctx.principal.is_admin and not (await load_settings(ctx.session)).show_outbox_folder:
        raise Forbidden("the outbox folder is hidden for users (G3)")


async def get_outbox_row(ctx: Ctx, outbox_id: uuid.UUID, with_raw: bool = False) -> OutboxMessage:
    await require_outbox_view(ctx)
    statement = select(OutboxMessage).where(OutboxMessage.id == outbox_id)
    scope = visible_rows(ctx)
    if scope is not None:
        statement = statement.where(scope)
    if with_raw:
        statement = statement.options(undefer(OutboxMessage.raw))
    row = await ctx.session.scalar(statement)
    if row is None:
        raise NotFound(f"outbox message {outbox_id} does not exist")
    return row


async def _changeable(ctx: Ctx, outbox_id: uuid.UUID, if_match: str | None) -> OutboxMessage:
    row = await get_outbox_row(ctx, outbox_id)
    check_if_match(row, if_match)
    if row.locked:
        raise Conflict(f"outbox message {outbox_id} was sent and is locked (G6)")
    if not ctx.principal.is_admin and row.requested_by_user_id != ctx.principal.user_id:
        raise Forbidden("only the sender or an admin may change a queued mail")
    return row


async def change_queued(
    ctx: Ctx, outbox_id: uuid.UUID, patch: OutboxPatch, if_match: str | None
) -> OutboxMessage:
    row = await _changeable(ctx, outbox_id, if_match)
    if row.status != "queued":
        raise Conflict(f"outbox message {outbox_id} is {row.status}; only queued mail can change")
    row.request = row.request | patch.model_dump(exclude_unset=True)
    await commit(ctx.session)
    return row


async def delete_row(ctx: Ctx, outbox_id: uuid.UUID, if_match: str | None) -> None:
    row = await _changeable(ctx, outbox_id, if_match)
    if row.status == "sending":
        raise Conflict(f"outbox message {outbox_id} is being sent right now")
    await ctx.session.delete(row)
    await commit(ctx.session)
