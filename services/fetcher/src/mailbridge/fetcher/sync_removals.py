"""One step of an IMAP folder sync: stored messages the server no longer has are marked (S7).

The rules are in `removals`; this is their order of effects, after the folder's new messages and
flags are stored: nothing when the folder is unchanged since the last look (no I/O: the usual
poll) → count the stored messages → only when EXISTS differs, UID SEARCH and the stored UIDs →
mark what is gone, fenced by the lease, with its MailRemovedOnServer events and the new
`Reconciled` in the same transaction.
"""

from datetime import timedelta

from mailbridge.fetcher import removals
from mailbridge.fetcher.model import AccountConfig, Lease
from mailbridge.fetcher.ports import ImapSession, Store
from mailbridge.fetcher.removals import FolderPoll, Reconciled


async def mark_removed(
    account: AccountConfig, imap: ImapSession, store: Store, lease: Lease, ttl: timedelta,
    folder: str, uidvalidity: int, poll: FolderPoll,
) -> int:  # fmt: skip
    """How many stored messages of `folder` were marked removed on the server in this poll."""
    if not account.mirrors_removals or poll.last_uid == 0 or removals.unchanged(poll):
        return 0
    unstored = removals.known_unstored(poll)
    stored = await store.count_on_server(account.account_id, folder, uidvalidity)
    if not removals.worth_searching(poll.exists, stored, unstored):
        assert unstored is not None
        now = Reconciled(poll.last_uid, poll.exists, unstored)
        if now != poll.reconciled:
            await store.mark_removed(lease, ttl, account, folder, uidvalidity, [], now)
        return 0
    on_server = await imap.uids_up_to(poll.last_uid)
    known = await store.uids_on_server(account.account_id, folder, uidvalidity)
    gone = removals.removed(known, on_server, poll.last_uid)
    now = Reconciled(poll.last_uid, poll.exists, removals.unstored(known, on_server, poll.last_uid))
    if not gone and now == poll.reconciled:
        return 0
    return await store.mark_removed(lease, ttl, account, folder, uidvalidity, gone, now)
