"""The fetch use-cases: synchronise IMAP folders and download POP3 maildrops into the store.

Order of effects (the no-loss contract): download → commit message + cursor + outbox row in one
transaction → only then delete on the server (POP3) or advance past the message. A crash at any
point leaves the cursor behind the last committed message, so the next run fetches again and the
identity check drops what was already stored.

Memory (#10 item 3): a message larger than `Limits.max_message_bytes` (by its RFC822.SIZE) is not
downloaded; it is listed in `Counts.skipped` with UID, size and why (and logged), and the cursor
passes it, so nothing is skipped silently. The bytes of the batches in flight — from the body
FETCH until their commit — are held in `Limits.bytes_in_flight`, one budget for all of a process's
fetches, so many workers downloading large mail wait for each other instead of adding up.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from mailbridge.common.budget import Budget
from mailbridge.common.db.types import utcnow
from mailbridge.fetcher.failures import NotSelectable, transient
from mailbridge.fetcher.fetch_record import Counts, MessageEntry
from mailbridge.fetcher.imap_wire import FetchedItem
from mailbridge.fetcher.model import AccountConfig, Lease, NewMessage
from mailbridge.fetcher.pop3_deletion import deletes_any, due_for_deletion
from mailbridge.fetcher.pop3_wire import HEADER_IDENTITY_PREFIX, HeaderIdentities, Listed, retrieval_limit
from mailbridge.fetcher.ports import Heartbeat, ImapSession, Pop3Session, Store
from mailbridge.fetcher.removals import FolderPoll
from mailbridge.fetcher.stand_ins import SUBJECTS as STAND_IN_SUBJECTS
from mailbridge.fetcher.stand_ins import reason as stand_in_reason
from mailbridge.fetcher.stand_ins import recognise
from mailbridge.fetcher.summary import summarize_batch
from mailbridge.fetcher.sync_plan import Cursor, Pending, batches, plan_folder_sync
from mailbridge.fetcher.sync_removals import mark_removed

logger = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 100 * 1024 * 1024
BYTES_IN_FLIGHT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    batch_count: int = 100
    batch_bytes: int = 16 * 1024 * 1024
    lease_ttl: timedelta = timedelta(minutes=2)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    bytes_in_flight: Budget = field(default_factory=lambda: Budget(BYTES_IN_FLIGHT))  # per process


async def sync_imap(
    account: AccountConfig, imap: ImapSession, store: Store, lease: Lease,
    cursors: Mapping[str, Cursor], limits: Limits, heartbeat: Heartbeat,
) -> Counts:  # fmt: skip
    """`cursors`: where each folder's last sync ended (none: a first sync, or a reload). Each folder
    ends with its stored messages that the server no longer has marked (`sync_removals`)."""
    counts = Counts()
    removed = partial(mark_removed, account, imap, store, lease, limits.lease_ttl)
    for folder in account.folders:
        try:
            status = await imap.select(folder)
        except NotSelectable as parent:  # holds no messages (Gmail's [Gmail]): named, passed by
            counts.skipped.append({"folder": folder, "reason": parent.reason})
            continue
        cursor = cursors.get(folder)
        plan = plan_folder_sync(status, cursor, account.syncs_flags)
        counts.folders[folder] = status.exists
        if plan.nothing_to_do and cursor is not None:  # (a first sync always has something to do)
            same = FolderPoll(status.exists, cursor.last_uid, cursor.last_uid, False, 0, cursor.reconciled)
            counts.deleted_on_server += await removed(folder, status.uidvalidity, same)
            continue
        if plan.reset and cursor is not None:
            await store.reset_folder(
                lease, limits.lease_ttl, account, folder, cursor.uidvalidity, status.uidvalidity
            )
            cursor = Cursor(status.uidvalidity, 0, None)
        last_uid = from_uid = cursor.last_uid if cursor and not plan.reset else 0
        if plan.fetch_after_uid is not None:
            sizes = await imap.sizes_after(plan.fetch_after_uid, status.uidnext)
            pending = _wanted(folder, sizes, limits.max_message_bytes, counts)
            last_uid = await _download(folder, status.uidvalidity, pending, imap, store, lease, account,
                                       limits, heartbeat, counts, last_uid, _modseq(cursor))  # fmt: skip
            last_uid = max([last_uid, *(item["uid"] for item in counts.skipped if item["folder"] == folder)])
        final = Cursor(status.uidvalidity, last_uid, status.highest_modseq)
        changes: list[tuple[int, tuple[str, ...]]] = []
        if plan.flags_changed_since is not None and last_uid:
            changed = await imap.flags_changed_since(plan.flags_changed_since, last_uid)
            changes = [(item.uid, item.flags) for item in changed]
        counts.flags_changed += await store.update_flags(
            lease, limits.lease_ttl, account, folder, changes, final
        )
        skipped = sum(1 for item in counts.skipped if item["folder"] == folder and "uid" in item)
        listed_new, reconciled = plan.fetch_after_uid is not None, cursor.reconciled if cursor else None
        poll = FolderPoll(status.exists, from_uid, last_uid, listed_new, skipped, reconciled)
        counts.deleted_on_server += await removed(folder, status.uidvalidity, poll)
    return counts


async def _download(
    folder: str, uidvalidity: int, pending: list[Pending], imap: ImapSession, store: Store,
    lease: Lease, account: AccountConfig, limits: Limits, heartbeat: Heartbeat, counts: Counts,
    last_uid: int, modseq: int | None,
) -> int:  # fmt: skip
    """Download and store batch after batch, three stages overlapping: batch n+2 on the wire,
    batch n+1 summarised, batch n committed. Commits stay one at a time and in order, so the
    cursor only ever advances over committed messages."""
    planned = batches(pending, limits.batch_count, limits.batch_bytes)
    if not planned:
        return last_uid
    budget, held = limits.bytes_in_flight, _Held(limits.bytes_in_flight)

    async def fetch(index: int) -> list[FetchedItem]:
        size = sum(p.size for p in planned[index])
        await budget.acquire(size)
        held.add(index, size)
        return await imap.bodies(planned[index])

    in_flight = asyncio.ensure_future(fetch(0))
    committing: asyncio.Future[int] | None = None
    try:
        for index, batch in enumerate(planned):
            items = await in_flight
            if index + 1 < len(planned):
                in_flight = asyncio.ensure_future(fetch(index + 1))
            messages = [
                NewMessage(folder, item.body, item.flags, uidvalidity, item.uid)
                for item in items
                if item.body is not None
            ]
            summaries = await summarize_batch([m.raw for m in messages])
            if committing is not None:
                counts.new += await committing
                await heartbeat()
            last_uid = max([last_uid, *(p.uid for p in batch)])
            advance = Cursor(uidvalidity, last_uid, modseq)
            committing = asyncio.ensure_future(
                store.store_batch(lease, limits.lease_ttl, account, messages, (folder, advance), summaries)
            )
            committing.add_done_callback(partial(held.release_after, index))
            del items, messages, summaries  # the commit holds them now, and only the commit
        assert committing is not None
        counts.new += await committing
        await heartbeat()
    finally:
        if not in_flight.done():
            in_flight.cancel()
            await asyncio.gather(in_flight, return_exceptions=True)
        if committing is not None and not committing.done():  # a failure elsewhere: let it finish
            await asyncio.gather(committing, return_exceptions=True)
        held.release_all()
    return last_uid


class _Held:
    """Which batches hold how much of the budget; each gives it back exactly once."""

    def __init__(self, budget: Budget) -> None:
        self._budget, self._held = budget, dict[int, int]()

    def add(self, index: int, size: int) -> None:
        self._held[index] = size

    def release(self, index: int) -> None:
        if index in self._held:
            self._budget.release(self._held.pop(index))

    def release_after(self, index: int, _: "asyncio.Future[int]") -> None:
        self.release(index)

    def release_all(self) -> None:
        for index in list(self._held):
            self.release(index)


def _wanted(folder: str, sizes: list[FetchedItem], max_bytes: int, counts: Counts) -> list[Pending]:
    """The messages to download; larger ones are listed as skipped (a size the server did not
    say counts as the largest allowed, so such a message travels alone)."""
    wanted: list[Pending] = []
    for item in sizes:
        if item.size is not None and item.size > max_bytes:
            reason = f"larger than the maximum message size of {max_bytes} bytes"
            counts.skipped.append({"folder": folder, "uid": item.uid, "size": item.size, "reason": reason})
            logger.warning("message skipped", extra={"folder": folder, "uid": item.uid, "size": item.size})
        else:
            wanted.append(Pending(item.uid, max_bytes if item.size is None else item.size))
    return wanted


def _modseq(cursor: Cursor | None) -> int | None:
    """While new messages are stored the old HIGHESTMODSEQ is kept: flag changes seen in this
    run are applied only when the folder is done, and a crash before that redoes them."""
    return cursor.highest_modseq if cursor else None


async def sync_pop3(
    account: AccountConfig, pop3: Pop3Session, store: Store, lease: Lease,
    limits: Limits, heartbeat: Heartbeat, full_reload: bool = False,
) -> Counts:  # fmt: skip
    """A message LISTed above `max_message_bytes` is skipped (listed in `Counts.skipped`, never
    stored, so S11/S12 never delete it); a RETR may bring its LIST size plus slack, no more.
    A server's stand-in for a message (`stand_ins`) is listed in `Counts.failed`, not stored and
    so never deleted nor taken as seen. Without UIDL, a message's identity comes from its header
    block (`HeaderIdentities`: by TOP n 0, else from the RETRieved message)."""
    counts = Counts()
    listed = await pop3.listing()
    stored = await store.known_uidls(account.account_id)
    _refuse_switching_identities(listed, stored)
    stand_ins = await _stored_stand_ins(account, store, listed, stored)
    known = set() if full_reload else stored - stand_ins
    identities = HeaderIdentities()
    on_server: dict[str, int] = {}
    for item in listed:
        if item.size > limits.max_message_bytes:
            reason = f"larger than the maximum message size of {limits.max_message_bytes} bytes"
            counts.skipped.append(_pop3_entry(account, item, item.uidl, reason))
            logger.warning("message skipped", extra=counts.skipped[-1])
            continue
        allowed = retrieval_limit(item.size, limits.max_message_bytes)
        async with limits.bytes_in_flight.hold(allowed):
            uidl, raw = item.uidl, None
            if uidl is None:
                head = await pop3.header_block(item.number, allowed)
                if head is None:
                    raw = head = await pop3.retrieve(item.number, allowed)
                uidl = identities.of(head)
            on_server[uidl] = item.number
            if uidl in known:
                continue
            raw = await pop3.retrieve(item.number, allowed) if raw is None else raw
            stand_in = recognise(raw)
            if stand_in is not None:
                counts.failed.append(_pop3_entry(account, item, uidl, stand_in_reason(stand_in)))
                logger.warning("stand-in instead of the message", extra=counts.failed[-1])
                continue
            message = NewMessage(account.inbox_folder, raw, uidl=uidl)
            if uidl in stand_ins:
                counts.new += await store.replace_stand_in(lease, limits.lease_ttl, account, message)
                stand_ins.discard(uidl)
            else:
                counts.new += await store.store_batch(lease, limits.lease_ttl, account, [message])
        await heartbeat()
    deletable = await _due_for_deletion(account, store, set(on_server), stand_ins)
    await pop3.delete_and_quit([on_server[uidl] for uidl in deletable])
    counts.deleted_on_server = len(deletable)
    counts.folders[account.inbox_folder] = len(listed)
    return counts


async def _stored_stand_ins(
    account: AccountConfig, store: Store, listed: list[Listed], seen: set[str]
) -> set[str]:
    """UIDLs on the server whose stored message is a server's stand-in, stored before stand-ins
    were recognised (#11): not to be deleted, and to be fetched again. Found by the stand-ins'
    subjects in one query, then confirmed on the bytes of those few."""
    on_server = {item.uidl for item in listed if item.uidl is not None} & seen
    found = await store.stored_under_subjects(account.account_id, on_server, STAND_IN_SUBJECTS)
    return {uidl for uidl, raw in found if recognise(raw) is not None}


async def _due_for_deletion(
    account: AccountConfig, store: Store, on_server: set[str], stand_ins: set[str]
) -> list[str]:
    """S11/S12 (`pop3_deletion`) over the first-seen times of the stored UIDLs on the server."""
    if not deletes_any(account):
        return []
    first_seen = await store.first_seen(account.account_id, on_server)
    return due_for_deletion(account, first_seen, stand_ins, utcnow())


def _pop3_entry(account: AccountConfig, item: Listed, uidl: str | None, reason: str) -> MessageEntry:
    return {"folder": account.inbox_folder, "uidl": uidl, "number": item.number, "size": item.size,
            "reason": reason}  # fmt: skip


def _refuse_switching_identities(listed: list[Listed], stored: set[str]) -> None:
    """A server that gave UIDLs before and refuses UIDL now would make every stored message look
    new (header identities instead of UIDLs): fail and try again rather than store it twice."""
    if any(item.uidl is None for item in listed) and any(
        not uidl.startswith(HEADER_IDENTITY_PREFIX) for uidl in stored
    ):
        raise transient("the POP3 server refused UIDL, though it gave UIDLs before; trying again later")
