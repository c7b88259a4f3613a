"""What a fetch run found and what `fetch_states` keeps of it, as typed records.

`Counts` is what one sync counted; `FetchRecord` is the outcome recorded for the account: `ok`,
`partial` (single messages could not be fetched, #11: they stay on the server and the next fetch
tries them again) or `failed` (with whether it is permanent, A3). A failure carries no counts, so
recording it leaves the last success's counts alone. The store turns a record into the table's
columns (`adapters/outcomes.py`), the only place its JSON shape is written.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NotRequired, TypedDict


class MessageEntry(TypedDict):
    """A message listed in `Counts.skipped` or `Counts.failed`: where, which, how large, why.
    IMAP names its UID, POP3 its UIDL and message number; a folder skipped as a whole (not
    selectable) names only the folder and why."""

    folder: str
    reason: str
    uid: NotRequired[int]
    uidl: NotRequired[str | None]
    number: NotRequired[int]
    size: NotRequired[int]


@dataclass
class Counts:
    new: int = 0
    flags_changed: int = 0
    deleted_on_server: int = 0
    folders: dict[str, int] = field(default_factory=dict)  # messages on the server, per folder
    skipped: list[MessageEntry] = field(default_factory=list)  # never downloaded, and why
    failed: list[MessageEntry] = field(default_factory=list)  # not fetched this time, and why


class FetchStatus(StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass(frozen=True)
class FetchRecord:
    status: FetchStatus
    reason: str | None
    permanent: bool
    config_version: str
    last_started_at: datetime
    last_finished_at: datetime
    counts: Counts | None = None  # None: a failure, which counts nothing
    certificate: str | None = None  # #17: a certificate failure's SHA-256 of the server's certificate


def succeeded(config_version: str, started: datetime, finished: datetime, counts: Counts) -> FetchRecord:
    """`ok`, or `partial` with the first reason when messages failed."""
    status, why = FetchStatus.OK, None
    if counts.failed:
        status = FetchStatus.PARTIAL
        why = f"{len(counts.failed)} message(s) not fetched: {counts.failed[0]['reason']}"
    return FetchRecord(status, why, False, config_version, started, finished, counts)


def failed(
    config_version: str, started: datetime, finished: datetime, reason: str, permanent: bool,
    certificate: str | None = None,
) -> FetchRecord:  # fmt: skip
    return FetchRecord(
        FetchStatus.FAILED, reason, permanent, config_version, started, finished, certificate=certificate
    )
