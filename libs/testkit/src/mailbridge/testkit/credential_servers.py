"""Scripted servers for the credentials test's diagnoses (T1) that the harness's Dovecot cannot
play without a configuration of its own: an IMAP server that offers exactly the capabilities
given (no STARTTLS; LOGINDISABLED), answering CAPABILITY and LOGOUT and refusing everything else.
Run them with `HostileServer(imap_offering(...))`, with `tls=` a `TlsFaults.server_context(...)`
for a server whose certificate fails in one way."""

from mailbridge.testkit.hostile import Conversation, Script

CRLF = b"\r\n"


def imap_offering(*capabilities: str) -> Script:
    """Greets and answers CAPABILITY with `capabilities`; every other command gets NO."""
    offered = " ".join(("IMAP4rev1", *capabilities)).encode()

    async def script(conversation: Conversation) -> None:
        await conversation.send(b"* OK [CAPABILITY " + offered + b"] scripted ready" + CRLF)
        while True:
            tag, _, rest = (await conversation.line()).partition(b" ")
            command = rest.split(b" ", 1)[0].upper()
            if command == b"CAPABILITY":
                await conversation.send(b"* CAPABILITY " + offered + CRLF + tag + b" OK done" + CRLF)
            elif command == b"LOGOUT":
                await conversation.send(b"* BYE bye" + CRLF + tag + b" OK done" + CRLF)
                return
            else:
                await conversation.send(tag + b" NO [CANNOT] not in this script" + CRLF)

    return script
