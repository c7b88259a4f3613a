"""SMTP scripts for `HostileServer`: a server that takes mail correctly, and the ways one can go
wrong — silent after the greeting, silent after DATA, a reply line that never ends, garbage
reply codes, a trickle.

`smtp()` answers EHLO/HELO, MAIL, RCPT, DATA (reading the data up to the lone "."), RSET, NOOP
and QUIT like a server would; `after_data=` replaces the reply to the data, `on_mail=` the reply
to MAIL. Every line a client sends is recorded (`server.received`), including the data's lines.
"""

from collections.abc import Awaitable, Callable

from mailbridge.testkit.hostile import Conversation, Script

GREETING = b"220 hostile.test ESMTP ready\r\n"
EHLO = b"250-hostile.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10240000\r\n"
GARBAGE = b"\x00\x1b[2J\xff\xfe\x07OK? \x80\x81 binary\r\n"

Reply = Callable[[Conversation], Awaitable[None]]


def answer(reply: bytes) -> Reply:
    async def send(conversation: Conversation) -> None:
        await conversation.send(reply)

    return send


async def hang(conversation: Conversation) -> None:
    await conversation.hang()


async def endless_line(conversation: Conversation) -> None:
    """A reply that starts like one and never ends its line."""
    await conversation.send(b"250 ")
    await conversation.send_forever(b"a" * 65536)


async def endless_lines(conversation: Conversation) -> None:
    """A multi-line reply whose last line never comes."""
    await conversation.send_forever(b"250-" + b"b" * 1000 + b"\r\n")


async def trickle(conversation: Conversation) -> None:
    """A reply one byte every 200 ms: each read gets something, the reply never completes."""
    await conversation.send_forever(b"2", delay_s=0.2)


GREET, OFFER = answer(GREETING), answer(EHLO)
ACCEPT, QUEUED = answer(b"250 OK\r\n"), answer(b"250 2.0.0 queued\r\n")


def smtp(
    *, greeting: Reply = GREET, on_ehlo: Reply = OFFER, on_mail: Reply = ACCEPT, after_data: Reply = QUEUED
) -> Script:
    async def script(conversation: Conversation) -> None:
        await greeting(conversation)
        while True:
            verb = (await conversation.line()).split(b" ", 1)[0].split(b":", 1)[0].upper()
            if verb == b"EHLO":
                await on_ehlo(conversation)
            elif verb == b"MAIL":
                await on_mail(conversation)
            elif verb == b"DATA":
                await conversation.send(b"354 go ahead\r\n")
                while await conversation.line() != b".":
                    pass
                await after_data(conversation)
            elif verb == b"QUIT":
                await conversation.send(b"221 bye\r\n")
                return
            elif verb in (b"HELO", b"RCPT", b"RSET", b"NOOP"):
                await conversation.send(b"250 OK\r\n")
            else:
                await conversation.send(b"502 5.5.2 unknown command\r\n")

    return script


def first_connection_only(hostile: Script, then: Script) -> Script:
    """`hostile` for the first connection, `then` for every later one."""
    seen = 0

    async def script(conversation: Conversation) -> None:
        nonlocal seen
        seen += 1
        await (hostile if seen == 1 else then)(conversation)

    return script


silent_after_greeting = smtp(on_ehlo=hang)
silent_after_data = smtp(after_data=hang)
endless_reply_line = smtp(on_ehlo=endless_line)
endless_multi_line_reply = smtp(on_mail=endless_lines)
garbage_reply = smtp(on_mail=answer(GARBAGE))
garbage_code = smtp(after_data=answer(b"999 what is this\r\n"))
trickled_greeting = smtp(greeting=trickle)
trickled_reply_to_data = smtp(after_data=trickle)
