"""Per-folder IMAP sync cursors in SQL (UIDVALIDITY, last UID, HIGHESTMODSEQ), read when a fetch
run starts and saved by one upsert in the transaction that stores what the cursor passed.

Read with each cursor: how the last look for removed messages left the folder
(`Cursor.reconciled`), which only `removed_messages` writes."""

import uuid
from collections.abc import Iterable
from typing import Any, cast

from mailbridge.common.db.mailstore import FolderSyncState
from mailbridge.common.db.types import utcnow
from mailbridge.fetcher.adapters.dialects import by_dialect
from mailbridge.fetcher.removals import Reconciled
from mailbridge.fetcher.sync_plan import Cursor
from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

_CURSOR = cast(Table, FolderSyncState.__table__)
_SAVED = ("uidvalidity", "last_uid", "highest_modseq", "updated_at")
COLUMNS = (
    _CURSOR.c.folder, _CURSOR.c.uidvalidity, _CURSOR.c.last_uid, _CURSOR.c.highest_modseq,
    _CURSOR.c.checked_last_uid, _CURSOR.c.checked_exists, _CURSOR.c.unstored,
)  # fmt: skip
_READ = select(*COLUMNS).where(
    _CURSOR.c.account_id == bindparam("p_account", type_=_CURSOR.c.account_id.type)
)
_SAVE = by_dialect(
    lambda insert: (statement := insert(_CURSOR)).on_conflict_do_update(
        index_elements=[_CURSOR.c.account_id, _CURSOR.c.folder],
        set_={name: statement.excluded[name] for name in _SAVED},
    )
)


async def read(session: AsyncSession, account_id: uuid.UUID) -> dict[str, Cursor]:
    return by_folder(await session.execute(_READ, {"p_account": account_id}))


def by_folder(rows: Iterable[Row[*tuple[Any, ...]]]) -> dict[str, Cursor]:
    """Cursors from rows of `COLUMNS` (a row without a folder stands for none)."""
    return {
        row.folder: Cursor(row.uidvalidity, row.last_uid, row.highest_modseq, _reconciled(row))
        for row in rows
        if row.folder
    }


def _reconciled(row: Row[*tuple[Any, ...]]) -> Reconciled | None:
    if row.checked_last_uid is None or row.checked_exists is None:
        return None
    return Reconciled(row.checked_last_uid, row.checked_exists, row.unstored)


async def save(session: AsyncSession, account_id: uuid.UUID, folder: str, cursor: Cursor) -> None:
    await session.execute(
        _SAVE[session.get_bind().dialect.name],
        {"account_id": account_id, "folder": folder, "uidvalidity": cursor.uidvalidity,
         "last_uid": cursor.last_uid, "highest_modseq": cursor.highest_modseq, "updated_at": utcnow()},
    )  # fmt: skip
