"""One step of an IMAP folder sync: stored messages the server no longer has are marked (S7).

The rules are in `removals`; this is their order of effects, after the folder's new messages and
flags are stored: count (free when the cursor brought it and this poll stored nothing in the
folder) → only when SELECT's EXISTS differs, UID SEARCH and the stored UIDs → mark what is gone,
fenced by the lease, with its MailRemovedOnServer events in the same transaction.
"""

from datetime import timedelta

from mailbridge.fetcher import removals
from mailbridge.fetcher.model import AccountConfig, Lease
from mailbridge.fetcher.ports import ImapSession, Store
from mailbridge.fetcher.sync_plan import FolderStatus


async def mark_removed(
    account: AccountConfig, imap: ImapSession, store: Store, lease: Lease, ttl: timedelta,
    folder: str, status: FolderStatus, last_uid: int, stored: int | None, unstored: int | None,
) -> int:  # fmt: skip
    """How many stored messages of `folder` were marked removed on the server in this poll.
    `last_uid`: the folder's cursor as this poll leaves it; `stored`: the stored messages still
    on the server as read with the cursor, or None to count them now; `unstored`: the messages on
    the server that are not stored, as known (None: this poll skipped some)."""
    if not account.mirrors_removals or last_uid == 0:
        return 0
    if stored is None:
        stored = await store.count_on_server(account.account_id, folder, status.uidvalidity)
    if not removals.worth_searching(status.exists, stored, unstored):
        return 0
    on_server = await imap.uids_up_to(last_uid)
    known = await store.uids_on_server(account.account_id, folder, status.uidvalidity)
    gone = removals.removed(known, on_server, last_uid)
    not_stored = removals.unstored(known, on_server, last_uid)
    if not gone and not_stored == unstored:
        return 0
    return await store.mark_removed(lease, ttl, account, folder, status.uidvalidity, gone, not_stored)
