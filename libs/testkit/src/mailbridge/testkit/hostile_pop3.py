"""POP3 scripts for `HostileServer`: a small maildrop served correctly, and the ways a server can
go wrong — silent after the greeting, garbage, a line that never ends, a RETR that never ends,
a trickle, STLS and then silence.

`pop3(messages)` answers CAPA, STLS (with `tls`), USER, PASS, STAT, LIST, UIDL, RETR, DELE,
RSET, NOOP and QUIT like a server would; `retr=` replaces how RETR is answered. Every line a
client sends is recorded (`server.received`), so a test can prove what reached the wire.
"""

import ssl
from collections.abc import Awaitable, Callable, Sequence

from mailbridge.testkit.hostile import STREAM_LIMIT_S, Conversation, Script

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


def pop3(
    messages: Sequence[bytes] = (), *, retr: Retr = send_whole, sizes: Sequence[int] | None = None,
    capabilities: Sequence[bytes] = (b"USER", b"UIDL", b"TOP"), tls: ssl.SSLContext | None = None,
) -> Script:  # fmt: skip
    """A maildrop of `messages` (UIDLs uid-1, uid-2, …); `sizes` overrides what LIST says."""
    listed = list(sizes) if sizes is not None else [len(m) for m in messages]
    offered = [*capabilities, *([b"STLS"] if tls is not None else [])]

    async def script(conversation: Conversation) -> None:
        await conversation.send(GREETING)
        while True:
            verb, _, argument = (await conversation.line()).partition(b" ")
            verb = verb.upper()
            if verb == b"CAPA":
                await conversation.send(b"+OK\r\n" + b"".join(c + b"\r\n" for c in offered) + b".\r\n")
            elif verb == b"STLS" and tls is not None:
                await conversation.send(b"+OK begin TLS\r\n")
                await conversation.writer.start_tls(tls)
            elif verb == b"STAT":
                await conversation.send(b"+OK %d %d\r\n" % (len(messages), sum(listed)))
            elif verb == b"LIST":
                lines = b"".join(b"%d %d\r\n" % (i + 1, size) for i, size in enumerate(listed))
                await conversation.send(b"+OK\r\n" + lines + b".\r\n")
            elif verb == b"UIDL":
                lines = b"".join(b"%d uid-%d\r\n" % (i + 1, i + 1) for i in range(len(messages)))
                await conversation.send(b"+OK\r\n" + lines + b".\r\n")
            elif verb == b"RETR" and argument.isdigit() and 0 < int(argument) <= len(messages):
                await retr(conversation, messages[int(argument) - 1])
            elif verb == b"QUIT":
                await conversation.send(b"+OK bye\r\n")
                return
            elif verb in (b"USER", b"PASS", b"DELE", b"RSET", b"NOOP"):
                await conversation.send(b"+OK\r\n")
            else:
                await conversation.send(b"-ERR unknown command\r\n")

    return script


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
