"""Send one outbox mail: claim → build → SMTP → record → append to the Sent folder (S10).

Sent means sent once: a redelivered SendRequested for a sent row does nothing but finish a
missing Sent-folder append. The bytes are kept with the first outcome, so a retry sends the
same mail. A crash between the server's 250 and our commit can send it once more: the row is
then still `sending`, is claimed again after the store's `stale_after` and rebuilt with the same
Message-ID (it derives from the outbox id). That repeat is unavoidable without the server's help.
Many sends run at once; the store writes their claims and outcomes in shared transactions.

Each mail's memory (its stored size times what building it costs) is held against the process's
byte budget from before its data is read until its outcome is recorded: a mail that does not
fit waits its turn (its claim renewed meanwhile, no attempt lost), while smaller ones keep going
as long as they fit.
"""

import uuid
from dataclasses import dataclass, field

from mailbridge.common.budget import Budget
from mailbridge.common.db.types import utcnow
from mailbridge.common.tracing import bind_account
from mailbridge.common.work_queue import Settle
from mailbridge.sender import recipients
from mailbridge.sender.mime import message_id
from mailbridge.sender.model import Claim, Claimed, Found, OutboxStatus, Outcome, Verdict, status_after
from mailbridge.sender.ports import Builder, Mailer, Outbox, SentFolder, SentFolderFailure
from mailbridge.sender.retry_policy import waits_for_limit

BYTES_IN_FLIGHT = 256 * 1024 * 1024  # the default of MAILBRIDGE_SEND_MAX_BYTES_IN_FLIGHT
# Memory a mail takes per byte stored, from loading it to recording its outcome. Building a mail
# with a 50 MB attachment now peaks at 79 MB (base64 spliced in as bytes, mime.py; it was 410), so
# data plus mail is 2.5 times the data; but the send holds more (the 72 MB dot-stuffed copy for
# DATA, what the transport and the database driver buffer of the bytes; not measured one by one):
# one such mail at a time took the sender to 494 MB RSS (bench/send.py --large), so 8 stands.
# Text and html bodies still go through the email generator: 25 MiB of non-ASCII text peaks at 12.8.
MEMORY_PER_STORED_BYTE = 8
MAY_NOT_SEND = "not sent: the account may not send (A8); sending was switched off after the mail was queued"


@dataclass(frozen=True)
class SendDeps:
    store: Outbox
    build: Builder
    mailer: Mailer
    sent_folder: SentFolder
    budget: Budget = field(default_factory=lambda: Budget(BYTES_IN_FLIGHT))


@dataclass(frozen=True)
class SendResult:
    verdict: Verdict
    detail: str
    attempt: int = 0

    @property
    def settle(self) -> Settle:
        """What becomes of the command: acked, or nakked to come again (only a RETRY verdict)."""
        return Settle.RETRY if self.verdict is Verdict.RETRY else Settle.ACK


async def send_outbox(deps: SendDeps, outbox_id: uuid.UUID) -> SendResult:
    claim = _named(await deps.store.claim(outbox_id))
    try:
        if claim.found in (Found.CLAIMED, Found.UNAPPENDED):
            async with deps.budget.hold(claim.size * MEMORY_PER_STORED_BYTE):
                return await _send(
                    deps, outbox_id, claim if claim.row else _named(await deps.store.load(outbox_id))
                )
        return await _send(deps, outbox_id, claim)
    finally:
        if claim.holds_claim:
            deps.store.let_go(outbox_id)


def _named(claim: Claim) -> Claim:
    """The command names only its outbox row: once the claim shows whose mail it is, the rest of
    the step's log lines carry that account (`account_id`, common.tracing)."""
    if claim.row is not None and claim.row.target.account_id is not None:
        bind_account(claim.row.target.account_id)
    return claim


async def _send(deps: SendDeps, outbox_id: uuid.UUID, claim: Claim) -> SendResult:
    if claim.found is Found.IN_FLIGHT:
        # Another worker is sending it, or a crashed one was: look again after the claim went
        # stale, never drop the command while the row is not finished.
        return SendResult(Verdict.RETRY, "being sent by another worker")
    if claim.found is Found.UNUSABLE:
        return await _fail(deps, outbox_id, f"cannot be sent: {claim.reason}", claim.attempt)
    if claim.found is Found.DONE or claim.row is None:
        return SendResult(Verdict.DONE, "already sent or failed")
    claimed = claim.row
    if claim.found is Found.UNAPPENDED:
        assert claimed.raw is not None
        return await _append(deps, outbox_id, claimed, claimed.raw)
    if not claimed.may_send:  # A8, decided when the mail would leave: can_send is off now
        return await _fail(deps, outbox_id, MAY_NOT_SEND, claimed.attempt)
    try:
        built = deps.build(claimed.mail, utcnow())
    except ValueError as error:  # a value no server would take: retrying cannot help
        return await _fail(deps, outbox_id, f"cannot be built: {error}", claimed.attempt)
    raw = claimed.raw or built.raw
    new_bytes = None if claimed.raw else (built.raw, built.message_id)
    to = recipients.still_to_send(built.envelope_to, claimed.recipients)  # #17: never twice to one
    delivery = (
        await deps.mailer.deliver(claimed.target, raw, built.envelope_from, to)
        if to else recipients.nothing_left(claimed.recipients)
    )  # fmt: skip
    states = recipients.merged(claimed.recipients, delivery, claimed.attempt)
    delivery = recipients.partial_retry(delivery, to, states)
    verdict = delivery.outcome
    spent = claimed.attempt >= claimed.max_attempts and not waits_for_limit(delivery.reply)  # #17
    if verdict is Verdict.RETRY and spent:
        verdict = Verdict.GIVE_UP
    verdict = recipients.reached_someone(verdict, states)
    status = status_after(verdict)  # a retry is queued again, with the same bytes
    await deps.store.record(Outcome(outbox_id, status, delivery.reply, claimed.attempt, states, new_bytes))
    if verdict is Verdict.DONE and claimed.sent_folder:
        return await _append(deps, outbox_id, claimed, raw)
    return SendResult(verdict, delivery.reply, claimed.attempt)


async def _fail(deps: SendDeps, outbox_id: uuid.UUID, reply: str, attempt: int) -> SendResult:
    """A mail that cannot go at all: failed with the reason, its command settled."""
    await deps.store.record(Outcome(outbox_id, OutboxStatus.FAILED, reply, attempt))
    return SendResult(Verdict.GIVE_UP, reply, attempt)


async def _append(deps: SendDeps, outbox_id: uuid.UUID, claimed: Claimed, raw: bytes) -> SendResult:
    """S10: the sent mail goes to the Sent folder once; a RETRY is tried again, GIVE_UP is not."""
    assert claimed.sent_folder is not None
    try:
        await deps.sent_folder.append_once(
            claimed.target, claimed.imap, claimed.sent_folder, raw, message_id(claimed.mail)
        )
    except SentFolderFailure as failure:
        later = "Sent folder later" if failure.verdict is Verdict.RETRY else "not in the Sent folder"
        return SendResult(failure.verdict, f"sent; {later}: {failure.reason}", claimed.attempt)
    await deps.store.appended(outbox_id)
    return SendResult(Verdict.DONE, "sent and filed in the Sent folder", claimed.attempt)
