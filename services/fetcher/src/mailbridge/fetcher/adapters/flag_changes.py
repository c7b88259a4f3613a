"""Flags read from the server → the stored messages, writing (and counting) only real changes.

Without CONDSTORE the fetcher reads every message's flags at each poll; with CONDSTORE a changed
HIGHESTMODSEQ brings the messages changed since, including the ones this poll just downloaded
(#11: Cyrus counted those). Either way most flags read are the stored ones: the stored flags are
read first, compared as sets (`\\Recent` aside, order aside), and only differing rows are
updated, in one executemany. `flags_changed` is the number of those rows.
"""

import uuid
from collections.abc import Iterable, Sequence
from typing import cast

from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.fetcher.adapters.new_messages import SYSTEM_FLAGS_TO_DROP
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

UIDS_PER_QUERY = 500  # bound parameters of one IN list (SQLite allows 32,766 in all)

_MESSAGES = cast(Table, StoredMessage.__table__)
_C = _MESSAGES.c
_IN_FOLDER = (
    (_C.account_id == bindparam("p_account", type_=_C.account_id.type))
    & (_C.folder == bindparam("p_folder", type_=_C.folder.type))
    & (_C.uidvalidity == bindparam("p_uidvalidity", type_=_C.uidvalidity.type))
)
_STORED_FLAGS = select(_C.uid, _C.flags).where(_IN_FOLDER, _C.uid.in_(bindparam("p_uids", expanding=True)))
_SET_FLAGS = (
    update(_MESSAGES)
    .where(_IN_FOLDER, _C.uid == bindparam("p_uid", type_=_C.uid.type))
    .values(flags=bindparam("p_flags", type_=_C.flags.type), seen=bindparam("p_seen", type_=_C.seen.type))
)


def kept(flags: Iterable[str]) -> list[str]:
    """The flags as stored: session flags (\\Recent) dropped."""
    return [flag for flag in flags if flag not in SYSTEM_FLAGS_TO_DROP]


def differing(
    read: Sequence[tuple[int, tuple[str, ...]]], stored: dict[int, list[str] | None]
) -> list[tuple[int, list[str]]]:
    """The (UID, flags) read from the server that differ from the stored ones; a UID not stored
    (skipped, or gone meanwhile) is no change."""
    changed: list[tuple[int, list[str]]] = []
    for uid, flags in read:
        if uid in stored and set(kept(flags)) != set(stored[uid] or ()):
            changed.append((uid, kept(flags)))
    return changed


async def apply(
    session: AsyncSession, account_id: uuid.UUID, folder: str, uidvalidity: int,
    read: Sequence[tuple[int, tuple[str, ...]]],
) -> int:  # fmt: skip
    """Write the flags that differ from the stored ones; how many messages changed."""
    where = {"p_account": account_id, "p_folder": folder, "p_uidvalidity": uidvalidity}
    changed = 0
    for start in range(0, len(read), UIDS_PER_QUERY):
        chunk = read[start : start + UIDS_PER_QUERY]
        rows = await session.execute(_STORED_FLAGS, where | {"p_uids": [uid for uid, _ in chunk]})
        updates = differing(chunk, {row.uid: row.flags for row in rows})
        if updates:
            values = [{"p_uid": uid, "p_flags": flags, "p_seen": "\\Seen" in flags} for uid, flags in updates]
            await session.execute(_SET_FLAGS, [where | row for row in values])
        changed += len(updates)
    return changed
