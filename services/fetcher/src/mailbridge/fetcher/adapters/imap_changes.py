"""Changes Mailbridge makes on an IMAP server (S7, S10, A11): \\Seen both ways and moves to the
account's trash or spam folder.

A move uses MOVE (RFC 6851) where the server offers it, else the equivalent of RFC 6851 §3.3
(#11: Courier 5.0 offers UIDPLUS and no MOVE): UID COPY, then UID STORE +FLAGS.SILENT (\\Deleted)
and UID EXPUNGE of exactly that UID, which needs UIDPLUS (RFC 4315); the new identity comes from
COPYUID either way. Without MOVE and UIDPLUS nothing is done and the failure is permanent, with a
reason naming both: a plain EXPUNGE would also remove what another client marked \\Deleted. A
message that is no longer in its folder is a permanent failure too (nothing to move, and a MOVE of
no message answers OK, which would send the stored copy to the target without an identity).
"""

from typing import TYPE_CHECKING

from mailbridge.fetcher.adapters.imap_failures import refusal, require_ok, text
from mailbridge.fetcher.failures import permanent
from mailbridge.fetcher.imap_wire import parse_copyuid, parse_fetch

if TYPE_CHECKING:
    from mailbridge.fetcher.adapters.imap import ImapMailbox


async def set_seen(imap: "ImapMailbox", uid: int, seen: bool) -> None:
    change = "+FLAGS.SILENT" if seen else "-FLAGS.SILENT"
    response = await imap.call(imap.client.uid("store", str(uid), change, r"(\Seen)"), "STORE")
    require_ok(response, "STORE")


async def move(imap: "ImapMailbox", uid: int, folder: str) -> tuple[int, int] | None:
    """Move message `uid` of the selected folder to `folder`; its new (UIDVALIDITY, UID) where
    the server says (COPYUID)."""
    offered = {name.upper() for name in imap.capabilities}
    if not {"MOVE", "UIDPLUS"} & offered:
        raise permanent(
            f"cannot move message {uid} to {folder!r}: the server offers neither MOVE (RFC 6851) "
            "nor UIDPLUS (RFC 4315), and a plain EXPUNGE would also remove messages other clients "
            "marked \\Deleted"
        )
    there = parse_fetch((await imap.fetch(str(uid), "(UID)")).lines)
    if uid not in [item.uid for item in there]:
        raise permanent(f"message {uid} is no longer in its folder on the server; nothing moved")
    verb = "MOVE" if "MOVE" in offered else "COPY"
    response = await imap.call(imap.client.uid(verb, str(uid), imap.wire_name(folder)), verb)
    if response.result != "OK":
        raise refusal(response, f"cannot move message {uid} to {folder!r}")
    if verb == "COPY":
        await _expunge_copied(imap, uid, folder)
    return parse_copyuid(response.lines)


async def _expunge_copied(imap: "ImapMailbox", uid: int, folder: str) -> None:
    """The rest of a move by COPY. A refusal now is permanent: a retry would copy it again."""
    deleted = r"(\Deleted)"
    answer = await imap.call(imap.client.uid("store", str(uid), "+FLAGS.SILENT", deleted), "STORE")
    if answer.result == "OK":
        answer = await imap.call(imap.client.uid("expunge", str(uid)), "UID EXPUNGE")
    if answer.result != "OK":
        said = text(answer)
        raise permanent(f"message {uid} was copied to {folder!r} but not removed from its folder: {said}")
