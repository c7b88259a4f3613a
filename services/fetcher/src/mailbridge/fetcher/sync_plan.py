"""What one IMAP folder sync must do, decided from the folder's status and our cursor.

RFC 3501 §2.3.1.1: a message's UID is unique within a folder only together with the folder's
UIDVALIDITY. While UIDVALIDITY is unchanged, UIDs only grow, so everything above our last UID
is new. When UIDVALIDITY changes, every stored UID of that folder is meaningless: the folder is
downloaded again and re-based onto the stored messages by their SHA-256, so nothing appears
twice (MailboxReset tells the world). RFC 7162 (CONDSTORE): HIGHESTMODSEQ grows with every
flag change, so an unchanged HIGHESTMODSEQ and UIDNEXT mean "nothing happened" and the poll
costs one SELECT; a changed one asks only for flags changed since (CHANGEDSINCE).
"""

from dataclasses import dataclass, field

from mailbridge.fetcher.removals import Reconciled


@dataclass(frozen=True)
class FolderStatus:
    """What SELECT reported."""

    uidvalidity: int
    uidnext: int | None
    highest_modseq: int | None
    exists: int


@dataclass(frozen=True)
class Cursor:
    """Where the last sync of the folder ended (None: never synced)."""

    uidvalidity: int
    last_uid: int
    highest_modseq: int | None
    # Read with the cursor, not saved with it: how the last look for removals left the folder.
    reconciled: Reconciled | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Plan:
    reset: bool
    fetch_after_uid: int | None  # fetch UIDs above this one; None: nothing new
    flags_changed_since: int | None  # CHANGEDSINCE value; None: flags untouched

    @property
    def nothing_to_do(self) -> bool:
        return not self.reset and self.fetch_after_uid is None and self.flags_changed_since is None


def plan_folder_sync(status: FolderStatus, cursor: Cursor | None, sync_flags: bool) -> Plan:
    if cursor is None:
        return Plan(reset=False, fetch_after_uid=0, flags_changed_since=None)
    if cursor.uidvalidity != status.uidvalidity:
        return Plan(reset=True, fetch_after_uid=0, flags_changed_since=None)
    has_new = status.uidnext is None or status.uidnext - 1 > cursor.last_uid
    flags_since = None
    if sync_flags and cursor.last_uid > 0:
        known = cursor.highest_modseq
        if known is None or status.highest_modseq is None:
            flags_since = 0  # no CONDSTORE: compare all flags
        elif status.highest_modseq != known:
            flags_since = known
    return Plan(False, cursor.last_uid if has_new else None, flags_since)


@dataclass(frozen=True)
class Pending:
    uid: int
    size: int


def batches(pending: list[Pending], max_count: int, max_bytes: int) -> list[list[Pending]]:
    """Split new messages into fetch batches bounded by count and total size (a large message
    travels alone), so no single command's response grows without bound."""
    result: list[list[Pending]] = []
    current: list[Pending] = []
    size = 0
    for item in sorted(pending, key=lambda p: p.uid):
        if current and (len(current) >= max_count or size + item.size > max_bytes):
            result.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        result.append(current)
    return result


def uid_set(uids: list[int]) -> str:
    """A compact IMAP sequence set: 1:3,7,9:10."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0] if ordered else 0
    for uid in ordered[1:]:
        if uid != prev + 1:
            ranges.append(f"{start}:{prev}" if start != prev else str(start))
            start = uid
        prev = uid
    if ordered:
        ranges.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(ranges)
