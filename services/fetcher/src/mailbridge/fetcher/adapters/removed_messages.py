"""Stored IMAP messages the server no longer has, in SQL: counted, listed and marked (S7).

Which ones are gone is decided in `fetcher.removals`; here the stored side. "Still on the
server" is `removed_on_server_at IS NULL`, which every statement names, so both databases answer
from the partial index `ix_messages_on_server` alone (migration 0009). Marking sets the time and
adds MailRemovedOnServer outbox rows (at most `MailRemovedOnServer.MAX_IDS` messages each) in the
caller's transaction; a row already marked stays as it was. With it goes the folder's new
`Reconciled` (kept in its sync state, beside the cursor).
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from mailbridge.common.db.mailstore import FolderSyncState, StoredMessage
from mailbridge.common.events import MailRemovedOnServer
from mailbridge.common.outbox_relay import enqueue_many
from mailbridge.fetcher.model import AccountConfig
from mailbridge.fetcher.removals import Reconciled
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

UIDS_PER_STATEMENT = 500  # bound parameters of one IN list (SQLite allows 32,766 in all)

_MESSAGES = cast(Table, StoredMessage.__table__)
_CURSOR = cast(Table, FolderSyncState.__table__)
_C = _MESSAGES.c
ON_SERVER = _C.removed_on_server_at.is_(None)
_IN_FOLDER = (
    (_C.account_id == bindparam("p_account", type_=_C.account_id.type))
    & (_C.folder == bindparam("p_folder", type_=_C.folder.type))
    & (_C.uidvalidity == bindparam("p_uidvalidity", type_=_C.uidvalidity.type))
    & ON_SERVER
)
_COUNT = select(func.count()).select_from(_MESSAGES).where(_IN_FOLDER)
_UIDS = select(_C.uid).where(_IN_FOLDER)
_MARK = (
    update(_MESSAGES)
    .where(_IN_FOLDER, _C.uid.in_(bindparam("p_uids", expanding=True)))
    .values(removed_on_server_at=bindparam("p_now", type_=_C.removed_on_server_at.type))
    .returning(_C.id)
)


_KEEP_RECONCILED = (
    update(_CURSOR)
    .where(
        _CURSOR.c.account_id == bindparam("p_account", type_=_CURSOR.c.account_id.type),
        _CURSOR.c.folder == bindparam("p_folder", type_=_CURSOR.c.folder.type),
    )
    .values(
        checked_last_uid=bindparam("p_last_uid", type_=_CURSOR.c.checked_last_uid.type),
        checked_exists=bindparam("p_exists", type_=_CURSOR.c.checked_exists.type),
        unstored=bindparam("p_unstored", type_=_CURSOR.c.unstored.type),
    )
)


def _where(account_id: uuid.UUID, folder: str, uidvalidity: int) -> dict[str, object]:
    return {"p_account": account_id, "p_folder": folder, "p_uidvalidity": uidvalidity}


async def count(session: AsyncSession, account_id: uuid.UUID, folder: str, uidvalidity: int) -> int:
    """How many stored messages of the folder's UIDVALIDITY are still on the server."""
    return int(await session.scalar(_COUNT, _where(account_id, folder, uidvalidity)) or 0)


async def uids(session: AsyncSession, account_id: uuid.UUID, folder: str, uidvalidity: int) -> list[int]:
    """Their UIDs."""
    return list(await session.scalars(_UIDS, _where(account_id, folder, uidvalidity)))


async def keep_reconciled(session: AsyncSession, account_id: uuid.UUID, folder: str, now: Reconciled) -> None:
    """How this look for removals leaves the folder."""
    values = {"p_last_uid": now.last_uid, "p_exists": now.exists, "p_unstored": now.unstored}
    await session.execute(_KEEP_RECONCILED, {"p_account": account_id, "p_folder": folder} | values)


async def mark(
    session: AsyncSession, account: AccountConfig, folder: str, uidvalidity: int, gone: Sequence[int],
    now: datetime,
) -> int:  # fmt: skip
    """Mark the stored messages with these UIDs as removed on the server and queue their events;
    how many were marked."""
    where = _where(account.account_id, folder, uidvalidity)
    marked: list[uuid.UUID] = []
    for start in range(0, len(gone), UIDS_PER_STATEMENT):
        chunk = list(gone[start : start + UIDS_PER_STATEMENT])
        marked += await session.scalars(_MARK, where | {"p_uids": chunk, "p_now": now})
    size = MailRemovedOnServer.MAX_IDS
    await enqueue_many(session, (
        MailRemovedOnServer(
            account_id=account.account_id, business_unit_id=account.business_unit_id, folder=folder,
            message_ids=marked[start : start + size], occurred_at=now,
        )
        for start in range(0, len(marked), size)
    ))  # fmt: skip
    return len(marked)
