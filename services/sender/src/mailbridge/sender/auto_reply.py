"""The out-of-office use-case (A12): a fetched message → the rules (`auto_reply_rules`) → one
recorded decision, and for a reply an outbox mail the sender sends like any other.

Order of effects: one indexed read finds whether the account has an out-of-office switched on
(most have none: done, nothing written); the stored message's header fields are read only for
mail in the inbox; the decision, the correspondent's interval claim and the reply's outbox row
with its SendRequested commit in one transaction (`AutoReplyStore.record`). A redelivered
MailFetched, a reload (G5) or a second replica finds the decision there and does nothing; the
reply itself is retried, recorded and shown in the outbox by the sender (A8: an account that may
not send gets no reply, and the decision says so).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mailbridge.sender.auto_reply_headers import Incoming
from mailbridge.sender.auto_reply_ports import AutoReplyStore, Headers, Recorded
from mailbridge.sender.auto_reply_rules import decide

NO_OUT_OF_OFFICE = "no_out_of_office"
MESSAGE_GONE = "message_gone"


@dataclass(frozen=True)
class AutoReplyDeps:
    store: AutoReplyStore
    clock: Callable[[], datetime]
    queued: Callable[[], None]  # a reply was committed: wake the outbox relay


@dataclass(frozen=True)
class Answered:
    """How one MailFetched ended: what was recorded, and the outcome ("replied" or why not)."""

    recorded: Recorded | None  # None: nothing to record (no out-of-office, message gone)
    outcome: str


async def answer_fetched(
    deps: AutoReplyDeps, account_id: uuid.UUID, folder: str, message_id: uuid.UUID
) -> Answered:
    situation = await deps.store.situation(account_id)
    if situation is None:
        return Answered(None, NO_OUT_OF_OFFICE)
    headers: Headers = {}
    if folder == situation.account.inbox_folder:
        found = await deps.store.headers(message_id)
        if found is None:
            return Answered(None, MESSAGE_GONE)
        headers = found
    now = deps.clock()
    decision = decide(situation.settings, situation.account, Incoming(folder, headers), now)
    recorded, outcome = await deps.store.record(message_id, situation, decision, now)
    if recorded is Recorded.QUEUED:
        deps.queued()
    return Answered(recorded, outcome)
