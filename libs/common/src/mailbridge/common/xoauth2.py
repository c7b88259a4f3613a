"""XOAUTH2 (S2) as pure functions for the fetcher and the sender: initial response, error challenge.

The SASL string is base64("user=" login ^A "auth=Bearer " token ^A ^A), the same for IMAP
AUTHENTICATE, POP3 AUTH and SMTP AUTH (Microsoft's "Authenticate an IMAP, POP or SMTP connection
using OAuth", Google's "XOAUTH2 protocol"). A server that refuses the token first sends a
challenge, base64 JSON such as {"status":"401","schemes":"bearer","scope":"…"}; the client answers
with an empty line and the server then refuses the login with its usual reply.
"""

import base64
import binascii
import json

from mailbridge.common.printable import printable


def initial_response(login: str, token: str) -> bytes:
    """The base64 SASL string a client sends (ASCII; RFC 4648 without line breaks)."""
    return base64.b64encode(f"user={login}\x01auth=Bearer {token}\x01\x01".encode())


def sendable(login: str, token: str) -> bool:
    """Whether the SASL string can carry both (no ^A, CR, LF or NUL inside either)."""
    return not any(c in login + token for c in "\x01\r\n\x00")


def error_challenge(challenge: bytes) -> str | None:
    """What an error challenge says, shortly (its status, and its scope where given); None when
    it is empty or not base64 JSON."""
    try:
        said = json.loads(base64.b64decode(challenge, validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(said, dict):
        return None
    parts = [f"{key} {said[key]}" for key in ("status", "scope") if isinstance(said.get(key), str)]
    return printable(", ".join(parts), 200) or None
