"""Bearer logins from the test side: XOAUTH2/OAUTHBEARER strings and answering the error challenge.

`BearerResponder` plugs into the standard library's `smtplib.SMTP.auth(…,
initial_response_ok=False)` (itself) and `imaplib.IMAP4.authenticate` (its `imap` method), which
send the two-step form: it answers the
server's first, empty challenge with the SASL string, and a later, non-empty one (the rejection,
see `oauth_mail`) with the empty line the server waits for, keeping the decoded error. POP3 has
no SASL in `poplib`: `pop3_authenticate` speaks RFC 5034 over a connected session.
"""

import base64
import binascii
import json
import poplib
from dataclasses import dataclass, field
from typing import Any


def xoauth2_string(login: str, token: str) -> str:
    """Google's and Microsoft's XOAUTH2 initial response, before base64."""
    return f"user={login}\x01auth=Bearer {token}\x01\x01"


def oauthbearer_string(login: str, token: str) -> str:
    """RFC 7628's OAUTHBEARER initial response (GS2 header with the authzid), before base64."""
    return f"n,a={login},\x01auth=Bearer {token}\x01\x01"


def _decoded_error(challenge: bytes | str) -> dict[str, Any]:
    raw = challenge.encode() if isinstance(challenge, str) else challenge
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"challenge": raw.decode(errors="replace")}
    return parsed if isinstance(parsed, dict) else {"challenge": parsed}


@dataclass
class BearerResponder:
    """An `authobject` for imaplib and smtplib: the SASL string first, an empty line after an
    error challenge. `error` is the server's decoded error challenge, if one came."""

    initial_response: str = field(repr=False)
    error: dict[str, Any] | None = None
    _sent: bool = field(default=False, repr=False)

    def __call__(self, challenge: bytes | None = None) -> str:
        if not self._sent and not challenge:
            self._sent = True
            return self.initial_response
        self.error = _decoded_error(challenge or b"")
        return ""

    def imap(self, challenge: bytes) -> bytes:
        """The same for `imaplib.IMAP4.authenticate`, which wants bytes."""
        return self(challenge).encode()


@dataclass(frozen=True)
class Pop3AuthReply:
    """The server's last line, and the decoded error challenge if the token was refused."""

    ok: bool
    reply: str
    error: dict[str, Any] | None


def _is_challenge(line: str) -> bool:
    return line == "+" or line.startswith("+ ")


def pop3_authenticate(session: poplib.POP3, mechanism: str, initial_response: str,
                      *, inline: bool = True) -> Pop3AuthReply:  # fmt: skip
    """RFC 5034 `AUTH`: inline (`AUTH XOAUTH2 <base64>`) or two-step (`AUTH XOAUTH2`, `+ `, line);
    an error challenge (`+ <base64 JSON>`) is answered with an empty line."""
    encoded = base64.b64encode(initial_response.encode()).decode("ascii")
    command = f"AUTH {mechanism} {encoded}" if inline else f"AUTH {mechanism}"
    session.sock.sendall(f"{command}\r\n".encode("ascii"))
    line = session.file.readline().decode("ascii", errors="replace").rstrip("\r\n")
    if not inline and _is_challenge(line):
        session.sock.sendall(f"{encoded}\r\n".encode("ascii"))
        line = session.file.readline().decode("ascii", errors="replace").rstrip("\r\n")
    error = None
    if _is_challenge(line):
        try:
            error = _decoded_error(base64.b64decode(line[1:].strip(), validate=True))
        except binascii.Error:
            error = {"challenge": line[1:].strip()}
        session.sock.sendall(b"\r\n")
        line = session.file.readline().decode("ascii", errors="replace").rstrip("\r\n")
    return Pop3AuthReply(line.startswith("+OK"), line, error)
