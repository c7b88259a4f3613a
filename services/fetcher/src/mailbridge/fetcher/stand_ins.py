"""Messages a server makes up and hands out instead of the one asked for (#11), as data.

A stand-in is never the user's mail: storing it would report the fetch as fine, and with delete
after loading (S11, S12) the original would then be deleted on the server and lost. So a
retrieved message is compared with the known stand-ins; one that matches is a failure for that
message (counted, with a reason naming the server's substitution), left on the server and not
marked as seen, so a later poll fetches it again.

A stand-in is recognised by the header lines it starts with and a sentence of its text, never by
size alone: Exchange's POP3 LIST sizes are estimates, so a size that differs proves nothing.

Known (each from the server's source):
- Courier POP3 (courierpop3d, courier-libs `imap/pop3dserver.c`, `MIMEWRAPTXT` in `do_retr`):
  a message with raw 8-bit headers, retrieved (RETR or TOP) by a client that did not send UTF8
  (RFC 6856), is wrapped into a multipart/mixed "Mail Delivery Subsystem" message that carries
  the original as a message/global attachment. The fetcher sends UTF8 whenever CAPA offers it;
  this catches a server that takes UTF8 and wraps all the same.
- Stored before this check existed: a UIDL whose stored message is a stand-in (found by its
  subject, then confirmed by `recognise` on its bytes) is neither deleted on the server nor taken
  as seen; the next RETR that brings the real message replaces the stand-in's row (`sync_pop3`).
- Courier IMAP makes up nothing: without UTF8=ACCEPT its FETCH hands out the original bytes and
  adds an untagged `* OK [ALERT] Message n appears to be a Unicode message …` (courier-libs
  `imap/fetch.C`, `do_fetch`), so IMAP bodies need no check.
"""

from dataclasses import dataclass

LOOKED_AT = 4096  # bytes of a message's start that the recognition reads


@dataclass(frozen=True)
class StandIn:
    server: str
    why: str  # when the server sends it
    first_lines: tuple[bytes, ...]  # the header lines it starts with, in this order
    sentence: bytes  # text from its first part
    source: str

    @property
    def subject(self) -> str:
        """Its Subject, as the store keeps it (to find stand-ins stored before #11's fix)."""
        line = next(line for line in self.first_lines if line.startswith(b"Subject: "))
        return line.removeprefix(b"Subject: ").decode()


KNOWN_STAND_INS = (
    StandIn(
        server="Courier POP3",
        why="a message with 8-bit (UTF-8) headers, for a client that has not enabled UTF8 (RFC 6856)",
        first_lines=(
            b"From: Mail Delivery Subsystem <postmaster>",
            b"Subject: Cannot display Unicode content",
        ),
        sentence=b"This E-mail message was determined to be Unicode-formatted",
        source="courier-libs imap/pop3dserver.c, MIMEWRAPTXT in do_retr (Debian courier-pop 1.0.16)",
    ),
)


SUBJECTS = {stand_in.subject for stand_in in KNOWN_STAND_INS}


def recognise(message: bytes, known: tuple[StandIn, ...] = KNOWN_STAND_INS) -> StandIn | None:
    """The stand-in `message` is, or None when it is (as far as we know) the real message."""
    start = message[:LOOKED_AT]
    for stand_in in known:
        lines = [line.removesuffix(b"\r") for line in start.split(b"\n", len(stand_in.first_lines))]
        if tuple(lines[: len(stand_in.first_lines)]) == stand_in.first_lines and stand_in.sentence in start:
            return stand_in
    return None


def reason(stand_in: StandIn) -> str:
    """What a person reads for a message replaced by `stand_in`."""
    return (
        f"{stand_in.server} sent a stand-in instead of the message ({stand_in.why}); "
        "not stored, left on the server for a later fetch"
    )
