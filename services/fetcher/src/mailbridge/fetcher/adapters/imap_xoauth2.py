"""IMAP AUTHENTICATE XOAUTH2 with a bearer token (S2), the fetcher's own framing (`SaslCommand`).

The SASL string goes on the command's line where CAPABILITY offers SASL-IR (RFC 4959), else after
the server's empty challenge. A refused token first gets the server's error challenge, answered
with an empty line, then the tagged NO: `TokenRejected` with the server's words and what the
challenge says (aioimaplib's `xoauth2` never answers that challenge and waits for its timeout).
A "not now" NO (throttled, unavailable) is transient, as after LOGIN.
"""

from typing import TYPE_CHECKING

from mailbridge.common.xoauth2 import error_challenge, initial_response, sendable
from mailbridge.fetcher.adapters.imap_failures import refusal
from mailbridge.fetcher.adapters.imap_sasl import SaslCommand
from mailbridge.fetcher.failures import Kind, TokenRejected, permanent, transient

if TYPE_CHECKING:
    from mailbridge.fetcher.adapters.imap import ImapMailbox


async def authenticate(imap: "ImapMailbox", user: str, token: str) -> None:
    """AUTHENTICATE XOAUTH2 on a connected mailbox; returns once the server said OK."""
    if not sendable(user, token):
        raise permanent("the login or token contains a control character, which XOAUTH2 cannot send")
    protocol, sasl = imap.client.protocol, initial_response(user, token)
    inline = "SASL-IR" in {name.upper() for name in imap.capabilities}
    command = SaslCommand(
        protocol.new_tag(), "XOAUTH2", initial=sasl if inline else None,
        answers=() if inline else (sasl,), loop=protocol.loop,
    )  # fmt: skip
    response = await imap.call(protocol.execute(command), "AUTHENTICATE XOAUTH2")
    if response.result != "OK":
        failure = refusal(response, f"OAuth login as {user} rejected")
        said = next(filter(None, map(error_challenge, command.challenges)), None)
        reason = failure.reason + (f" ({said})" if said else "")
        raise TokenRejected(failure.kind, reason) if failure.kind is Kind.PERMANENT else transient(reason)
