"""SMTP replies and network failures classified as data: sent, worth retrying, or final.

RFC 5321 §4.2.1: 2yz is positive, 4yz a transient and 5yz a permanent negative reply. One
quirk, as in GNU Mailman's deliver.py: 552 ("exceeded storage allocation") is treated as
temporary, because RFC 5321 §4.5.3.1.10 tells clients to do so for the "too many recipients"
case that old servers answered with 552. A reply outside those classes means the conversation
went wrong, so it is retried. Anything that is not a reply (DNS, refused connection, TLS,
timeout, disconnect) is temporary too: like an MTA, we defer and let a later attempt (and, at
the end, `max_attempts`) decide; the reason names the cause for the user. A certificate that fails
verification is not (#17): permanent, with the reason the fetcher and the credentials test give
(`common.certificates`).

A transaction reports per recipient: the mail is SENT when at least one recipient was accepted
and the server took the data, and the refused ones are kept with their reply (partial).
"""

import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from mailbridge.common.certificates import certificate_problem
from mailbridge.common.printable import printable
from mailbridge.common.recipient_states import RecipientState, state_of
from mailbridge.sender.model import Verdict
from mailbridge.sender.ports import Delivery

VERDICT_OF = {
    RecipientState.ACCEPTED: Verdict.DONE,
    RecipientState.REFUSED_TEMPORARILY: Verdict.RETRY,
    RecipientState.REFUSED_PERMANENTLY: Verdict.GIVE_UP,
}


def classify(code: int) -> Verdict:
    """A reply's verdict by the same RFC 5321 classes (and 552 quirk) as a recipient's state."""
    return VERDICT_OF[state_of(code)]


@dataclass(frozen=True)
class RecipientReply:
    address: str
    code: int
    text: str

    @property
    def outcome(self) -> Verdict:
        return classify(self.code)

    def __str__(self) -> str:
        return printable(f"{self.code} {self.text}".replace("\n", " "))


@dataclass(frozen=True)
class SmtpResult:
    """What one send came to: its outcome, the reply (or reason) worth showing, per recipient."""

    outcome: Verdict
    reply: str
    recipients: tuple[RecipientReply, ...] = ()

    def __post_init__(self) -> None:
        # A reply quoted from a server can be anything: kept printable and short (#10 item 9);
        # the lines of a multi-line reply are joined with spaces.
        object.__setattr__(self, "reply", printable(self.reply.replace("\n", " ")))

    @property
    def refused(self) -> tuple[RecipientReply, ...]:
        return tuple(r for r in self.recipients if r.outcome is not Verdict.DONE)

    @property
    def partial(self) -> bool:
        """Sent, but not to everybody."""
        return self.outcome is Verdict.DONE and bool(self.refused)

    def delivery(self) -> Delivery:
        """As the send use-case records it: each recipient's state and reply (#17); one accepted
        at RCPT counts only when the server took the data."""
        delivered = self.outcome is Verdict.DONE
        tried = [r for r in self.recipients if delivered or r.outcome is not Verdict.DONE]
        return Delivery(self.outcome, self.reply, {r.address: (state_of(r.code), str(r)) for r in tried})


def failed(outcome: Verdict, reason: str) -> SmtpResult:
    return SmtpResult(outcome, reason)


def replied(code: int, text: str, context: str) -> SmtpResult:
    """A negative reply to a command: classified by its code, explained by `context`."""
    return SmtpResult(classify(code), f"{context}: {code} {text}")


def all_refused(replies: Iterable[RecipientReply]) -> SmtpResult:
    """No recipient was accepted: final only when every refusal is final."""
    recipients = tuple(replies)
    temporary = any(r.outcome is not Verdict.GIVE_UP for r in recipients)
    outcome = Verdict.RETRY if temporary else Verdict.GIVE_UP
    summary = "; ".join(f"{r.address}: {r}" for r in recipients)
    return SmtpResult(outcome, f"every recipient refused: {summary}", recipients)


def network_reason(error: BaseException, where: str) -> str:
    """The cause of a failure below SMTP, in words, from the innermost exception it wraps."""
    cause = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    detail = str(cause) or type(cause).__name__
    if isinstance(cause, socket.gaierror):
        return f"DNS lookup for {where} failed: {detail}"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return certificate_problem(cause, where).reason
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake with {where} failed: {detail}"
    if isinstance(cause, TimeoutError):
        return f"timed out talking to {where}: {detail}"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection to {where} refused: {detail}"
    if isinstance(cause, OSError):
        return f"cannot connect to {where}: {detail}"
    return f"connection to {where} failed: {detail}"
