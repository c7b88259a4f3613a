"""What the out-of-office use-case (A12, `auto_reply`) needs; `adapters/auto_replies` implements it."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from mailbridge.sender.auto_reply_rules import Account, Hold, OutOfOffice, Reply

Headers = Mapping[str, Sequence[str]]  # lower-case field name → its values, in order


@dataclass(frozen=True)
class Situation:
    """An account with an out-of-office switched on: its settings, what the rules need of the
    account, whether its mail leaves through the server's egress (S6), and its owning user, in
    whose name a reply is queued (so the user sees it in the outbox, G3)."""

    account_id: uuid.UUID
    settings: OutOfOffice
    account: Account
    egress: bool
    owner_user_id: uuid.UUID | None = None  # None: a group's account (its members see it, G3)


class Recorded(StrEnum):
    QUEUED = "queued"  # the reply is in the outbox with its SendRequested
    HELD = "held"  # the decision (a Hold, or the interval's) is recorded; nothing sent
    ALREADY_DECIDED = "already_decided"  # a decision for this message was there (redelivery, reload)


class AutoReplyStore(Protocol):
    async def situation(self, account_id: uuid.UUID) -> Situation | None:
        """The account's out-of-office when it is switched on; None (most accounts) otherwise."""
        ...

    async def headers(self, message_id: uuid.UUID) -> Headers | None:
        """The stored message's header fields; None when it is not stored (any more)."""
        ...

    async def record(
        self, message_id: uuid.UUID, situation: Situation, decision: Reply | Hold, now: datetime
    ) -> tuple[Recorded, str]:
        """In one transaction: the decision for the message (once: its primary key), for a reply
        the correspondent's claim for the interval, and when claimed the outbox row with its
        SendRequested. Returns what happened and the outcome stored."""
        ...
