"""Why a fetch failed, as data: transient failures are retried with backoff; permanent ones
are recorded with a readable reason and not retried until the account's configuration changes.
"""

from dataclasses import dataclass
from enum import StrEnum

from mailbridge.common.printable import printable

__all__ = ["FetchFailure", "Kind", "permanent", "printable", "transient"]  # printable: for the adapters


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


def transient(reason: str) -> FetchFailure:
    return FetchFailure(Kind.TRANSIENT, reason)


def permanent(reason: str) -> FetchFailure:
    return FetchFailure(Kind.PERMANENT, reason)
