"""IMAP AUTHENTICATE XOAUTH2 for the Sent-folder append (S10 on an OAuth server, S2), over aioimaplib.

aioimaplib's `xoauth2()` puts the token on the command's line (and so into its debug log) and
never answers the error challenge of a refused token, waiting for a tagged answer until its
timeout. Here the token goes after the server's empty `+` challenge, written to the transport
directly, and an error challenge is answered with an empty line, after which the server sends its
NO: `_Authenticate.flush` is what aioimaplib calls for every `+` line of a pending command.
"""

import asyncio

from aioimaplib import IMAP4, Command, Response
from mailbridge.common.xoauth2 import initial_response

MAX_CHALLENGES = 4  # past them the server is stalling, not authenticating


class _Authenticate(Command):  # type: ignore[misc]
    def __init__(
        self, tag: str, sasl: bytes, transport: asyncio.WriteTransport, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__("AUTHENTICATE", tag, "XOAUTH2", loop=loop)
        self._answers, self._transport, self.challenges = [sasl], transport, 0

    def flush(self) -> None:
        self.challenges += 1
        if self.challenges > MAX_CHALLENGES:
            self._transport.abort()
            return
        self._transport.write((self._answers.pop(0) if self._answers else b"") + b"\r\n")  # never logged


async def xoauth2(client: IMAP4, login: str, token: str) -> Response:
    """AUTHENTICATE XOAUTH2 in the continuation form; the tagged answer (OK, or NO/BAD)."""
    protocol = client.protocol
    sasl = initial_response(login, token)
    command = _Authenticate(protocol.new_tag(), sasl, protocol.transport, protocol.loop)
    response: Response = await asyncio.wait_for(protocol.execute(command), client.timeout)
    if response.result == "OK":
        protocol.state = "AUTH"
    else:  # the `+` lines aioimaplib collected are challenges, not the server's words
        lines = [line for line in response.lines if not bytes(line).startswith(b"+")]
        response = Response(response.result, lines)
    return response
