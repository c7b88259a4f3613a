"""POP3 scripts for `HostileServer`: a small maildrop served correctly, and the ways a server can
go wrong — silent after the greeting, garbage, a line that never ends, a RETR that never ends,
a trickle, STLS and then silence.

`Maildrop` (and `pop3(messages)`) answers CAPA, STLS (with `tls`), UTF8, USER, PASS, STAT,
LIST, UIDL, TOP, RETR, DELE, RSET, NOOP and QUIT like a server would, keeps what QUIT deleted,
and can play Courier's UTF8 stand-in (#11) and a server without UIDL or TOP; `retr=` replaces how
RETR is answered. Every line a client sends is recorded (`server.received`), so a test can prove
what reached the wire.
"""

import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from mailbridge.testkit.hostile import STREAM_LIMIT_S, Conversation

GREETING = b"+OK hostile POP3 ready\r\n"
GARBAGE = b"\x00\x1b[2J\xff\xfe\x07HELO? \x80\x81 binary\r\n"

Retr = Callable[[Conversation, bytes], Awaitable[None]]


def dot_stuffed(message: bytes) -> bytes:
    """A message as RETR sends it: lines starting with "." doubled, "." CRLF at the end."""
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


async def send_whole(conversation: Conversation, message: bytes) -> None:
    await conversation.send(b"+OK message follows\r\n" + dot_stuffed(message))


async def retr_forever(conversation: Conversation, message: bytes) -> None:
    """+OK, then header lines without end (never the terminating ".")."""
    await conversation.send(b"+OK message follows\r\n")
    await conversation.send_forever(b"X-Filler: " + b"y" * 1000 + b"\r\n")


async def retr_trickle(conversation: Conversation, message: bytes) -> None:
    """The message, one byte every 50 ms: each read gets something, the whole takes for ever."""
    await conversation.send(b"+OK message follows\r\n")
    await conversation.send_forever(b"z", delay_s=0.05)


@dataclass
class Maildrop:
    """A maildrop served like a server would, kept across connections: DELE marks, QUIT removes
    what was marked (RFC 1939 §6), RSET or a dropped connection removes nothing; `left` and
    `deleted` say what is on the server and what went.

    `capabilities` is what CAPA lists; UIDL, TOP and UTF8 are answered only when listed (else
    -ERR, as a server without them would). A message with 8-bit bytes in its header block goes
    to a client that has not sent UTF8 as Courier's stand-in (`courier_stand_in`), and always
    with `honours_utf8=False` (a server that says +OK to UTF8 and wraps all the same);
    `utf8_reply` "-ERR …" refuses UTF8. `retr=` replaces how RETR is answered; `sizes` overrides
    what LIST says.
    """

    messages: list[bytes]
    capabilities: Sequence[bytes] = (b"USER", b"UIDL", b"TOP")
    retr: Retr = send_whole
    sizes: Sequence[int] | None = None
    tls: ssl.SSLContext | None = None
    honours_utf8: bool = True
    utf8_reply: bytes = b"+OK UTF8 enabled"  # -ERR…: refused
    uidls: list[bytes] = field(default_factory=list)
    deleted: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.uidls = self.uidls or [b"uid-%d" % (i + 1) for i in range(len(self.messages))]

    @property
    def left(self) -> list[bytes]:
        return list(self.messages)

    def offers(self, name: bytes) -> bool:
        return any(c.split()[0].upper() == name for c in self.capabilities)

    async def __call__(self, conversation: Conversation) -> None:
        messages, uidls = list(self.messages), list(self.uidls)  # this session's view
        listed = list(self.sizes) if self.sizes is not None else [len(m) for m in messages]
        offered = [*self.capabilities, *([b"STLS"] if self.tls is not None else [])]
        marked: set[int] = set()
        utf8 = False
        await conversation.send(GREETING)
        while True:
            verb, _, argument = (await conversation.line()).partition(b" ")
            verb = verb.upper()
            number = int(argument.split()[0]) if argument[:1].isdigit() else 0
            found = 0 < number <= len(messages) and number - 1 not in marked
            if verb == b"CAPA":
                await conversation.send(b"+OK\r\n" + b"".join(c + b"\r\n" for c in offered) + b".\r\n")
            elif verb == b"STLS" and self.tls is not None:
                await conversation.send(b"+OK begin TLS\r\n")
                await conversation.writer.start_tls(self.tls)
            elif verb == b"UTF8" and self.offers(b"UTF8"):
                utf8 = self.utf8_reply.startswith(b"+OK")
                await conversation.send(self.utf8_reply + b"\r\n")
            elif verb == b"STAT":
                await conversation.send(b"+OK %d %d\r\n" % (len(messages), sum(listed)))
            elif verb == b"LIST":
                lines = b"".join(b"%d %d\r\n" % (i + 1, size) for i, size in enumerate(listed))
                await conversation.send(b"+OK\r\n" + lines + b".\r\n")
            elif verb == b"UIDL" and self.offers(b"UIDL"):
                lines = b"".join(b"%d %s\r\n" % (i + 1, uidl) for i, uidl in enumerate(uidls))
                await conversation.send(b"+OK\r\n" + lines + b".\r\n")
            elif verb in (b"RETR", b"TOP") and found and (verb == b"RETR" or self.offers(b"TOP")):
                message = messages[number - 1]
                if eight_bit_header(message) and not (utf8 and self.honours_utf8):
                    message = courier_stand_in(message)
                if verb == b"TOP":
                    await send_whole(conversation, message.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
                else:
                    await self.retr(conversation, message)
            elif verb == b"DELE" and found:
                marked.add(number - 1)
                await conversation.send(b"+OK\r\n")
            elif verb == b"RSET":
                marked.clear()
                await conversation.send(b"+OK\r\n")
            elif verb == b"QUIT":
                self._remove([uidls[i] for i in marked])
                await conversation.send(b"+OK bye\r\n")
                return
            elif verb in (b"USER", b"PASS", b"NOOP"):
                await conversation.send(b"+OK\r\n")
            else:
                await conversation.send(b"-ERR unknown command\r\n")

    def _remove(self, gone: list[bytes]) -> None:
        for uidl in gone:
            index = self.uidls.index(uidl)
            self.deleted.append(self.messages.pop(index))
            del self.uidls[index]


def pop3(
    messages: Sequence[bytes] = (), *, retr: Retr = send_whole, sizes: Sequence[int] | None = None,
    capabilities: Sequence[bytes] = (b"USER", b"UIDL", b"TOP"), tls: ssl.SSLContext | None = None,
) -> Maildrop:  # fmt: skip
    """A maildrop of `messages` (UIDLs uid-1, uid-2, …); `sizes` overrides what LIST says."""
    return Maildrop(list(messages), capabilities, retr, sizes, tls)


def eight_bit_header(message: bytes) -> bool:
    """Whether the header block has bytes above 127 (raw UTF-8, RFC 6532)."""
    return not message.split(b"\r\n\r\n", 1)[0].isascii()


def courier_stand_in(original: bytes) -> bytes:
    """What Courier's POP3 server sends instead of a message with 8-bit headers to a client that
    has not sent UTF8: a made-up multipart message carrying the original as an attachment
    (the form of courier-libs imap/pop3dserver.c, MIMEWRAPTXT; text shortened here)."""
    boundary = b"=_4242-1700000000"
    return (
        b"From: Mail Delivery Subsystem <postmaster>\r\nSubject: Cannot display Unicode content\r\n"
        b"Mime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n\r\n\r\n"
        b"--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\n"
        b"This E-mail message was determined to be Unicode-formatted\r\n"
        b"but your E-mail reader does not support Unicode E-mail.\r\n\r\n"
        b"--" + boundary + b"\r\nContent-Type: message/global\r\n\r\n"
        + original + b"\r\n--" + boundary + b"--\r\n"
    )  # fmt: skip


async def hang_silently(conversation: Conversation) -> None:
    """Not even a greeting (behind implicit TLS: the handshake completes, then nothing)."""
    await conversation.hang()


async def silent_after_greeting(conversation: Conversation) -> None:
    await conversation.send(GREETING)
    await conversation.hang()


async def garbage_greeting(conversation: Conversation) -> None:
    await conversation.send(GARBAGE)
    await conversation.hang()


async def garbage_after_greeting(conversation: Conversation) -> None:
    """A proper greeting, then binary garbage as the answer to every command."""
    await conversation.send(GREETING)
    while True:
        await conversation.line()
        await conversation.send(GARBAGE)


async def endless_greeting(conversation: Conversation) -> None:
    """A greeting line that never ends."""
    await conversation.send(b"+OK ")
    await conversation.send_forever(b"a" * 65536)


async def trickled_greeting(conversation: Conversation) -> None:
    """`+` every 200 ms, never a line end: each read gets a byte, the greeting never completes."""
    await conversation.send_forever(b"+", delay_s=0.2, limit_s=STREAM_LIMIT_S)


async def stls_then_silence(conversation: Conversation) -> None:
    """Offers STLS, says +OK to it, and then never starts TLS: the client's handshake waits."""
    await conversation.send(GREETING)
    while True:
        verb = (await conversation.line()).upper()
        if verb == b"CAPA":
            await conversation.send(b"+OK\r\nUSER\r\nUIDL\r\nSTLS\r\n.\r\n")
        elif verb == b"STLS":
            await conversation.send(b"+OK begin TLS\r\n")
            await conversation.hang()
            return
        else:
            await conversation.send(b"-ERR unknown command\r\n")
