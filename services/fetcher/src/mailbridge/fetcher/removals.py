"""Which stored IMAP messages the server no longer has (S7: `imap` is synchronised).

RFC 3501 §2.3.1.1: within one UIDVALIDITY a UID names one message for ever and is never given
to another, so a stored UID that the server no longer lists is gone for good (expunged, or moved
away by another client), never to come back; a UID above the ones stored is new mail, never a
removal. Per folder and poll:

1. SELECT's EXISTS is compared with the number of stored messages of the folder's UIDVALIDITY
   not yet marked removed (read with the cursors, or counted again after this poll stored
   messages) plus the messages on the server that are not stored (skipped as larger than the
   maximum size), as the last search found them. Equal: nothing to do. Were those unstored ones
   left out, one skipped message would hide the next removal (EXISTS equal to the stored count).
   A poll that skipped messages in the folder does not know that number and always searches.
2. Otherwise the server is asked which UIDs exist up to the folder's last UID (UID SEARCH UID
   1:last): mail arriving meanwhile lies above it and is not looked at.
3. The stored UIDs up to that last UID that the answer lacks are marked (`removed`), in one
   transaction with their MailRemovedOnServer events; the bytes stay stored. The server's UIDs
   that are not stored are counted anew (`unstored`) and kept with the cursor.

IMAP download (S7 `imap_download`) is one-way: nothing is marked there. A UIDVALIDITY change
re-bases the folder (`sync_plan`) and is not looked at for removals in that poll.
"""

from collections.abc import Iterable


def worth_searching(exists: int, stored: int, unstored: int | None) -> bool:
    """Whether the server's UIDs must be asked for: SELECT's EXISTS is not the stored messages
    still on the server plus the unstored ones (None: not known, as this poll skipped some)."""
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
