"""Why a fetch failed, as data: transient failures are retried with backoff; permanent ones
are recorded with a readable reason and not retried until the account's configuration changes.
"""

from dataclasses import dataclass
from enum import StrEnum

from mailbridge.common.printable import printable

__all__ = [  # printable: for the adapters
    "FetchFailure", "Kind", "NotSelectable", "not_selectable", "permanent", "printable", "transient",
]  # fmt: skip


class Kind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass
class FetchFailure(Exception):
    """Raised by adapters with a reason a person understands."""

    kind: Kind
    reason: str

    def __post_init__(self) -> None:
        self.reason = printable(self.reason)

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


class NotSelectable(FetchFailure):
    """A folder the server lists as \\Noselect (a parent such as Gmail's [Gmail]): it holds no
    messages, so a sync passes it by, naming it, instead of failing (#11)."""


def not_selectable(reason: str) -> FetchFailure:
    return NotSelectable(Kind.PERMANENT, reason)


def transient(reason: str) -> FetchFailure:
    return FetchFailure(Kind.TRANSIENT, reason)


def permanent(reason: str) -> FetchFailure:
    return FetchFailure(Kind.PERMANENT, reason)
