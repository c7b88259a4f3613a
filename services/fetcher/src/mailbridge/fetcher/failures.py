"""Why a fetch failed, as data: transient failures are retried with backoff; permanent ones
are recorded with a readable reason and not retried until the account's configuration changes
(or, for a certificate refused, the server presents another one: `certificate_hold`);
an account that must be connected (again) at its OAuth provider (O4) is not retried either, and
waits for the connect, which is no configuration change (`fetch_account.refusal`).
"""

from dataclasses import dataclass
from enum import StrEnum

from mailbridge.common.printable import printable

__all__ = [  # printable: for the adapters
    "FetchFailure", "Kind", "NotSelectable", "TokenRejected", "needs_connect", "not_selectable", "permanent",
    "printable", "transient",
]  # fmt: skip


class Kind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    NEEDS_CONNECT = "needs_connect"  # the OAuth broker holds no usable grant: a person connects (O4)


@dataclass
class FetchFailure(Exception):
    """Raised by adapters with a reason a person understands."""

    kind: Kind
    reason: str

    def __post_init__(self) -> None:
        self.reason = printable(self.reason)

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"

    @property
    def retryable(self) -> bool:
        """Whether the command comes again with backoff; every other failure is recorded and acked."""
        return self.kind is Kind.TRANSIENT


class TokenRejected(FetchFailure):
    """The mail server refused an OAuth access token (XOAUTH2): the login is tried once more with
    a token the broker refreshed (`credentials.signed_in`). The reason quotes the server."""


class NotSelectable(FetchFailure):
    """A folder the server lists as \\Noselect (a parent such as Gmail's [Gmail]): it holds no
    messages, so a sync passes it by, naming it, instead of failing (#11)."""


def not_selectable(reason: str) -> FetchFailure:
    return NotSelectable(Kind.PERMANENT, reason)


def needs_connect(reason: str) -> FetchFailure:
    return FetchFailure(Kind.NEEDS_CONNECT, reason)


def transient(reason: str) -> FetchFailure:
    return FetchFailure(Kind.TRANSIENT, reason)


def permanent(reason: str) -> FetchFailure:
    return FetchFailure(Kind.PERMANENT, reason)
