"""Which messages of a batch are not stored yet, and their rows: the messages row and its
MailFetched outbox row, inserted with one statement per table for the whole batch.

The statements are built once and executed with bound values: per batch they cost a cached
lookup instead of construction and compilation, and the rows go to the driver's executemany.
"""

import uuid
from datetime import datetime
from typing import Any, cast

from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.events import MailFetched
from mailbridge.common.ids import new_id
from mailbridge.common.outbox_relay import outbox_row
from mailbridge.fetcher.model import AccountConfig, NewMessage
from mailbridge.fetcher.summary import Summary
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

SYSTEM_FLAGS_TO_DROP = {"\\Recent"}  # session-specific, never stored

_MESSAGES = cast(Table, StoredMessage.__table__)
INSERT_MESSAGES = insert(_MESSAGES)

_COLUMN = _MESSAGES.c
_ACCOUNT = bindparam("p_account", type_=_COLUMN.account_id.type)
_FOLDER = bindparam("p_folder", type_=_COLUMN.folder.type)
_UIDVALIDITY = bindparam("p_uidvalidity", type_=_COLUMN.uidvalidity.type)
_IN_FOLDER = (_COLUMN.account_id == _ACCOUNT) & (_COLUMN.folder == _FOLDER)
_STORED_UIDS = select(_COLUMN.uid).where(
    _IN_FOLDER, _COLUMN.uidvalidity == _UIDVALIDITY, _COLUMN.uid.in_(bindparam("p_uids", expanding=True))
)
_STORED_UIDLS = select(_COLUMN.uidl).where(
    _COLUMN.account_id == _ACCOUNT, _COLUMN.uidl.in_(bindparam("p_uidls", expanding=True))
)
_OTHER_UIDVALIDITY = select(_COLUMN.id).where(_IN_FOLDER, _COLUMN.uidvalidity != _UIDVALIDITY).limit(1)


def new_rows(
    account: AccountConfig, item: NewMessage, summary: Summary, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The messages row and its MailFetched outbox row (which shares the event's id)."""
    flags = [f for f in item.flags if f not in SYSTEM_FLAGS_TO_DROP]
    message_id = new_id()
    row = {
        "id": message_id, "account_id": account.account_id, "business_unit_id": account.business_unit_id,
        "folder": item.folder, "uidvalidity": item.uidvalidity, "uid": item.uid, "uidl": item.uidl,
        "sha256": summary.sha256, "size": summary.size, "raw": item.raw,
        "from_address": summary.from_address, "to_addresses": summary.to_addresses,
        "cc_addresses": summary.cc_addresses, "subject": summary.subject, "sent_date": summary.sent_date,
        "message_id_header": summary.message_id, "in_reply_to": summary.in_reply_to,
        "references": summary.references, "has_attachments": summary.has_attachments,
        "flags": flags, "seen": "\\Seen" in flags, "parse_problem": summary.parse_problem,
        "fetched_at": now,
    }  # fmt: skip
    event = MailFetched(
        account_id=account.account_id, business_unit_id=account.business_unit_id, folder=item.folder,
        message_id=message_id, subject_line=summary.subject, from_address=summary.from_address,
        size=summary.size, sha256=summary.sha256, occurred_at=now,
    )  # fmt: skip
    return row, outbox_row(event) | {"created_at": now}


def key(item: NewMessage) -> tuple[object, ...]:
    """A message's identity: (folder, UIDVALIDITY, UID) on IMAP, the UIDL on POP3."""
    return (item.uidl,) if item.uidl is not None else (item.folder, item.uidvalidity, item.uid)


async def stored_keys(
    session: AsyncSession, account_id: uuid.UUID, items: list[NewMessage]
) -> set[tuple[object, ...]]:
    """Which of `items` are stored already: one query per folder (or for the UIDLs)."""
    uidls = [item.uidl for item in items if item.uidl is not None]
    found: set[tuple[object, ...]] = set()
    if uidls:
        rows = await session.scalars(_STORED_UIDLS, {"p_account": account_id, "p_uidls": uidls})
        found |= {(uidl,) for uidl in rows}
    for folder, uidvalidity in _imap_folders(items):
        uids = [
            item.uid
            for item in items
            if item.uidl is None and (item.folder, item.uidvalidity) == (folder, uidvalidity)
        ]
        rows = await session.scalars(
            _STORED_UIDS,
            {"p_account": account_id, "p_folder": folder, "p_uidvalidity": uidvalidity, "p_uids": uids},
        )
        found |= {(folder, uidvalidity, uid) for uid in rows}
    return found


async def has_other_uidvalidity(
    session: AsyncSession, account_id: uuid.UUID, items: list[NewMessage]
) -> bool:
    """Whether a folder of the batch holds messages of an older UIDVALIDITY (a re-base is due)."""
    for folder, uidvalidity in _imap_folders(items):
        bound = {"p_account": account_id, "p_folder": folder, "p_uidvalidity": uidvalidity}
        if await session.scalar(_OTHER_UIDVALIDITY, bound) is not None:
            return True
    return False


def _imap_folders(items: list[NewMessage]) -> set[tuple[str, int | None]]:
    return {(item.folder, item.uidvalidity) for item in items if item.uidl is None}
