"""An IMAP AUTHENTICATE command whose continuations are answered (RFC 3501 §6.2.2), for XOAUTH2 (S2).

`FramedProtocol` writes the SASL-IR initial response with the command's line and hands every `+`
line to `next_answer`, whose reply it writes back; aioimaplib itself only collects `+` lines.
"""

import asyncio

from aioimaplib import Command


class SaslCommand(Command):  # type: ignore[misc]
    """AUTHENTICATE (RFC 3501 §6.2.2) whose continuations we answer: each `+` from the server gets
    the next of `answers`, then an empty line (XOAUTH2's reply to the server's error challenge,
    after which the server sends the tagged NO); aioimaplib would only collect the `+` line and
    wait for a tagged answer the server never sends. `initial` is the SASL-IR initial response
    (RFC 4959), sent on the command's line. Secrets are in neither the command's args nor its
    repr, so no log line or exception message can show them. `challenges` keeps what the server
    said; past MAX_CHALLENGES the server is stalling, not authenticating, and is given up."""

    MAX_CHALLENGES = 4

    def __init__(
        self, tag: str, mechanism: str, *, initial: bytes | None, answers: tuple[bytes, ...],
        loop: asyncio.AbstractEventLoop,
    ) -> None:  # fmt: skip
        super().__init__("AUTHENTICATE", tag, mechanism, loop=loop)
        self.initial = initial
        self._answers = list(answers)
        self.challenges: list[bytes] = []

    def next_answer(self, challenge: bytes) -> bytes | None:
        """What to send for `challenge` (without CRLF); None: too many challenges."""
        self.challenges.append(challenge)
        if len(self.challenges) > self.MAX_CHALLENGES:
            return None
        return self._answers.pop(0) if self._answers else b""
