"""Which stored IMAP messages the server no longer has (S7: `imap` is synchronised).

RFC 3501 §2.3.1.1: within one UIDVALIDITY a UID names one message for ever and is never given
to another, so a stored UID that the server no longer lists is gone for good (expunged, or moved
away by another client), never to come back; a UID above the ones stored is new mail, never a
removal. Per folder and poll:

1. Unchanged (no cost): the last look left the folder `Reconciled` at the cursor's last UID with
   SELECT's EXISTS at some number. A poll that lists no new UIDs and sees the same EXISTS has
   nothing removed: with no message added, EXISTS only falls when one goes.
2. Otherwise the stored messages of the folder's UIDVALIDITY not marked removed are counted, and
   with the messages on the server that are not stored (skipped as larger than the maximum
   size: as the last look found them, plus those skipped in this poll) compared with EXISTS.
   Equal: nothing removed. Were the unstored ones left out, one skipped message would hide the
   next removal. Where that number is not known (no record matching the cursor), search.
3. The server is asked which UIDs exist up to the folder's last UID (UID SEARCH UID 1:last): mail
   arriving meanwhile lies above it and is not looked at. The stored UIDs up to there that the
   answer lacks are marked (`removed`), in one transaction with their MailRemovedOnServer events;
   the bytes stay stored. The server's UIDs that are not stored are counted anew (`unstored`).

Steps 2 and 3 end by keeping the new `Reconciled` with the cursor. IMAP download (S7
`imap_download`) is one-way: nothing is marked there.
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reconciled:
    """How the last look for removals left the folder: the cursor's last UID then, SELECT's
    EXISTS then, and how many of those messages are not stored."""

    last_uid: int
    exists: int
    unstored: int


@dataclass(frozen=True)
class FolderPoll:
    """What one poll of a folder saw and did, as far as removals go."""

    exists: int  # SELECT's
    from_uid: int  # the cursor's last UID as the poll began; 0: listed from the first UID
    last_uid: int  # the cursor's last UID now
    listed_new: bool  # UIDs above `from_uid` were asked for
    skipped: int  # of those, how many were not stored (too large)
    reconciled: Reconciled | None  # read with the cursor


def unchanged(poll: FolderPoll) -> bool:
    """Nothing can have been removed since the last look (step 1)."""
    last = poll.reconciled
    return (
        not poll.listed_new
        and last is not None
        and (last.last_uid, last.exists) == (poll.from_uid, poll.exists)
    )


def known_unstored(poll: FolderPoll) -> int | None:
    """How many messages on the server up to `last_uid` are not stored; None: not known."""
    if poll.from_uid == 0:
        return poll.skipped
    if poll.reconciled is not None and poll.reconciled.last_uid == poll.from_uid:
        return poll.reconciled.unstored + poll.skipped
    return None


def worth_searching(exists: int, stored: int, unstored: int | None) -> bool:
    """Whether the server's UIDs must be asked for: SELECT's EXISTS is not the stored messages
    still on the server plus the unstored ones (or that number is not known)."""
    return unstored is None or exists != stored + unstored


def removed(stored: Iterable[int], on_server: Iterable[int], up_to_uid: int) -> list[int]:
    """The stored UIDs (up to `up_to_uid`, the highest one the server's answer covers) that the
    server no longer has, in ascending order."""
    present = set(on_server)
    return sorted(uid for uid in set(stored) if uid <= up_to_uid and uid not in present)


def unstored(stored: Iterable[int], on_server: Iterable[int], up_to_uid: int) -> int:
    """How many of the server's UIDs up to `up_to_uid` are not stored."""
    known = set(stored)
    return sum(1 for uid in set(on_server) if uid <= up_to_uid and uid not in known)
