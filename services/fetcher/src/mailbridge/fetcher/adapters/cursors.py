"""Per-folder IMAP sync cursors in SQL (UIDVALIDITY, last UID, HIGHESTMODSEQ), read when a fetch
run starts and saved by one upsert in the transaction that stores what the cursor passed.

Read with each cursor, in the same statement: how many stored messages of its UIDVALIDITY are
still on the server (`Cursor.on_server`, from the partial index of migration 0009) and how many
on the server are not stored (`unstored`), which a poll compares with SELECT's EXISTS
(`removals`) without a round trip of its own. `unstored` is written only by `removed_messages`."""

import uuid
from collections.abc import Iterable
from typing import Any, cast

from mailbridge.common.db.mailstore import FolderSyncState, StoredMessage
from mailbridge.common.db.types import utcnow
from mailbridge.fetcher.adapters.dialects import by_dialect
from mailbridge.fetcher.sync_plan import Cursor
from sqlalchemy import Row, Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

_CURSOR = cast(Table, FolderSyncState.__table__)
_MESSAGES = cast(Table, StoredMessage.__table__)
_SAVED = ("uidvalidity", "last_uid", "highest_modseq", "updated_at")
_ON_SERVER = (
    select(func.count())
    .select_from(_MESSAGES)
    .where(
        _MESSAGES.c.account_id == _CURSOR.c.account_id,
        _MESSAGES.c.folder == _CURSOR.c.folder,
        _MESSAGES.c.uidvalidity == _CURSOR.c.uidvalidity,
        _MESSAGES.c.removed_on_server_at.is_(None),
    )
    .scalar_subquery()
)
COLUMNS = (
    _CURSOR.c.folder, _CURSOR.c.uidvalidity, _CURSOR.c.last_uid, _CURSOR.c.highest_modseq,
    _ON_SERVER.label("on_server"), _CURSOR.c.unstored,
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
        row.folder: Cursor(row.uidvalidity, row.last_uid, row.highest_modseq, row.on_server, row.unstored)
        for row in rows
        if row.folder
    }


async def save(session: AsyncSession, account_id: uuid.UUID, folder: str, cursor: Cursor) -> None:
    await session.execute(
        _SAVE[session.get_bind().dialect.name],
        {"account_id": account_id, "folder": folder, "uidvalidity": cursor.uidvalidity,
         "last_uid": cursor.last_uid, "highest_modseq": cursor.highest_modseq, "updated_at": utcnow()},
    )  # fmt: skip
