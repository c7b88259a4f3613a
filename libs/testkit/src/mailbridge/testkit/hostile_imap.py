"""Scripts for `HostileServer` that speak just enough IMAP to get a client where it hurts.

Plain misbehaviour right after connecting: `silent_after_greeting`, `garbage_greeting` (a
greeting that contains "OK" but is not `* OK`), `garbage_after_greeting`, `unknown_tag` (answers
under a tag never sent), `endless_greeting` (no line end, ever), `trickling_greeting` (a byte
per interval), `banner(...)` (not IMAP at all: an SSH or HTTP server on the IMAP port). Deeper
in, `ImapScript` plays a one-message INBOX (CAPABILITY, LOGIN, SELECT, UID FETCH, LOGOUT) and
lets the body FETCH misbehave: a literal of `announced` bytes streamed for ever, a trickle, or a
literal count that does not match its bytes.
What the client sent is in `server.received` (so the LOGIN line can be checked byte for byte).
"""

from dataclasses import dataclass

from mailbridge.testkit.hostile import Conversation, Script

CRLF = b"\r\n"
GREETING = b"* OK [CAPABILITY IMAP4rev1] hostile ready" + CRLF
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
HTTP_ANSWER = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\r\n<html>\x00\x1b[31m</html>"


async def silent_after_greeting(conversation: Conversation) -> None:
    await conversation.send(GREETING)
    await conversation.hang()


async def garbage_greeting(conversation: Conversation) -> None:
    await conversation.send(b"garbage OK garbage" + CRLF)
    await conversation.hang()


async def garbage_after_greeting(conversation: Conversation) -> None:
    """Greets properly, then answers every command with noise that contains OK."""
    await conversation.send(GREETING)
    while True:
        await conversation.line()
        await conversation.send(b"OK? OK! garbage (OK" + CRLF)


async def unknown_tag(conversation: Conversation) -> None:
    """Greets properly, then answers every command as if it were another one."""
    await conversation.send(GREETING)
    while True:
        await conversation.line()
        await conversation.send(b"ZZZ999 OK not yours" + CRLF)


async def endless_greeting(conversation: Conversation) -> None:
    await conversation.send_forever(b"* OK " + b"x" * 65536)


async def trickling_greeting(conversation: Conversation) -> None:
    await conversation.send_forever(b"*", delay_s=0.1)


def banner(text: bytes = SSH_BANNER, answer: bytes | None = None) -> Script:
    """A server that is not IMAP: says `text`, answers the first line with `answer`, then hangs."""

    async def script(conversation: Conversation) -> None:
        await conversation.send(text + CRLF)
        if answer is not None:
            await conversation.line()
            await conversation.send(answer)
        await conversation.hang()

    return script


@dataclass
class ImapScript:
    """A logged-in session on one message whose body FETCH misbehaves as told.

    `announced`: the literal size the body FETCH announces; `sent`: how many bytes really follow
    (None: stream until the client goes away); `size`: the RFC822.SIZE reported; `delay_s`: a
    pause between chunks of `chunk` bytes (a trickle). `login_ok=False` refuses the LOGIN.
    Flag FETCHes get a plain answer.
    """

    announced: int = 2_000_000_000
    sent: int | None = None
    size: int = 1000
    chunk: int = 65536
    delay_s: float = 0.0
    login_ok: bool = True
    sizes_literal: bool = False  # answer the RFC822.SIZE FETCH with the literal instead

    async def __call__(self, conversation: Conversation) -> None:
        await conversation.send(GREETING)
        while True:
            line = await conversation.line()
            tag, _, rest = line.partition(b" ")
            verb = rest.split(b" ", 1)[0].upper()
            if verb == b"CAPABILITY":
                await conversation.send(b"* CAPABILITY IMAP4rev1 LITERAL+" + CRLF + tag + b" OK done" + CRLF)
            elif verb == b"LOGIN":
                await conversation.send(tag + (b" OK logged in" if self.login_ok else b" NO denied") + CRLF)
            elif verb == b"SELECT":
                await conversation.send(
                    b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n"
                    + tag + b" OK [READ-WRITE] done" + CRLF
                )  # fmt: skip
            elif verb == b"UID" and b"RFC822.SIZE" in rest.upper() and not self.sizes_literal:
                sizes = b"* 1 FETCH (UID 1 RFC822.SIZE %d)" % self.size
                await conversation.send(sizes + CRLF + tag + b" OK done" + CRLF)
            elif verb == b"UID" and (b"BODY" in rest.upper() or self.sizes_literal):
                await self._body(conversation, tag)
            elif verb == b"UID":
                await conversation.send(b"* 1 FETCH (UID 1 FLAGS ())" + CRLF + tag + b" OK done" + CRLF)
            elif verb == b"LOGOUT":
                await conversation.send(b"* BYE bye\r\n" + tag + b" OK done" + CRLF)
                return
            else:
                await conversation.send(tag + b" BAD what" + CRLF)

    async def _body(self, conversation: Conversation, tag: bytes) -> None:
        await conversation.send(b"* 1 FETCH (UID 1 FLAGS () BODY[] {%d}\r\n" % self.announced)
        if self.sent is None:
            await conversation.send_forever(b"x" * self.chunk, delay_s=self.delay_s)
            return
        await conversation.send(b"x" * self.sent + b")\r\n" + tag + b" OK done" + CRLF)


@dataclass
class Utf8Folder:
    """A logged-in session on one folder, named `name`, that holds `messages` (UIDs from 1,
    UIDVALIDITY 7, no CONDSTORE). With `utf8_accept`, CAPABILITY offers ENABLE and UTF8=ACCEPT;
    once enabled, the folder is found only by its UTF-8 name, before only by modified UTF-7
    (RFC 6855 §3, RFC 3501 §5.1.3), so a client that names it wrongly gets NO."""

    name: str
    messages: list[bytes]
    utf8_accept: bool = False

    async def __call__(self, conversation: Conversation) -> None:
        enabled = False
        offered = b" ENABLE UTF8=ACCEPT" if self.utf8_accept else b""
        await conversation.send(GREETING)
        while True:
            tag, _, rest = (await conversation.line()).partition(b" ")
            verb, _, argument = rest.partition(b" ")
            verb = verb.upper()
            if verb == b"CAPABILITY":
                await conversation.send(b"* CAPABILITY IMAP4rev1" + offered + CRLF + tag + b" OK done" + CRLF)
            elif verb == b"ENABLE" and self.utf8_accept and argument.upper() == b"UTF8=ACCEPT":
                enabled = True
                await conversation.send(b"* ENABLED UTF8=ACCEPT" + CRLF + tag + b" OK enabled" + CRLF)
            elif verb == b"SELECT" and argument == self._quoted(enabled):
                count = len(self.messages)
                await conversation.send(
                    b"* %d EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT %d] ok\r\n" % (count, count + 1)
                    + tag + b" OK [READ-WRITE] done" + CRLF
                )  # fmt: skip
            elif verb == b"UID" and argument.upper().startswith(b"FETCH "):
                await conversation.send(
                    self._fetched(argument.split(b" ", 2)[1], argument.upper()) + tag + b" OK done" + CRLF
                )
            elif verb in (b"LOGIN", b"LOGOUT"):
                await conversation.send(
                    (b"* BYE bye" + CRLF if verb == b"LOGOUT" else b"") + tag + b" OK done" + CRLF
                )
                if verb == b"LOGOUT":
                    return
            else:
                await conversation.send(tag + b" NO not here" + CRLF)

    def _quoted(self, enabled: bool) -> bytes:
        if enabled:
            return b'"' + self.name.encode() + b'"'
        return b'"' + self.name.encode("utf-7").replace(b"+", b"&").replace(b"/", b",") + b'"'

    def _fetched(self, uid_set: bytes, what: bytes) -> bytes:
        answer = b""
        for uid in _uids(uid_set, len(self.messages)):
            message = self.messages[uid - 1]
            if b"BODY" in what:
                answer += (
                    b"* %d FETCH (UID %d FLAGS () BODY[] {%d}\r\n" % (uid, uid, len(message))
                    + message
                    + b")\r\n"
                )
            elif b"RFC822.SIZE" in what:
                answer += b"* %d FETCH (UID %d RFC822.SIZE %d)\r\n" % (uid, uid, len(message))
            else:
                answer += b"* %d FETCH (UID %d FLAGS ())\r\n" % (uid, uid)
        return answer


def _uids(uid_set: bytes, highest: int) -> list[int]:
    """The UIDs of an IMAP sequence set ("1:3,7", "4:*") that exist (1 … `highest`)."""
    found: set[int] = set()
    for part in uid_set.decode().split(","):
        first, _, last = part.partition(":")
        low = highest if first == "*" else int(first)
        high = low if not last else highest if last == "*" else int(last)
        found |= set(range(min(low, high), max(low, high) + 1))
    return sorted(uid for uid in found if 1 <= uid <= highest)
