"""Why a fetch failed, as data: transient failures are retried with backoff; permanent ones
are recorded with a readable reason and not retried until the account's configuration changes.
"""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass
class FetchFailure(Exception):
    """Raised by adapters with a reason a person understands."""

    kind: Kind
    reason: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


def transient(reason: str) -> FetchFailure:
    return FetchFailure(Kind.TRANSIENT, reason)


def permanent(reason: str) -> FetchFailure:
    return FetchFailure(Kind.PERMANENT, reason)


def retry_delay_s(attempt: int, base_s: float = 5.0, cap_s: float = 900.0) -> float:
    """Exponential backoff for redeliveries: 5 s, 10 s, 20 s … capped at 15 minutes."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))
