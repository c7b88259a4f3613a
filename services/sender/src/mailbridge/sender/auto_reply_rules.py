"""Out-of-office (A12): whether a fetched message gets an automatic reply, and the reply — pure
rules after RFC 3834 ("Recommendations for Automatic Responses to Electronic Mail"), no I/O.

`decide` reads, in this order, and the first rule that holds the reply back is the answer:
1. the out-of-office is off, or now is outside its period (`starts_at` ≤ now < `ends_at`);
2. the account may not set one (A12's `can_set_out_of_office` switched off after it was set);
3. the message is not in the account's inbox (Sent, Trash, Spam and other folders are never
   answered; POP3 mail is stored under the inbox);
4. the message is dated before the out-of-office began (`starts_at`, else when the settings were
   last saved; ten minutes' leeway for clocks): a first sync or a reload (G5) of old mail is not
   answered;
5. `Auto-Submitted` other than `no` (§5), or Microsoft's `X-Auto-Response-Suppress` asking for no
   out-of-office answers (`All`, `OOF`, `AutoReply`);
6. list and bulk mail: `List-Id`, `List-Unsubscribe`, `List-Post` (§2), `Precedence: bulk | list |
   junk` (and `auto_reply`, which some responders set);
7. the sender: the envelope sender (`Return-Path`, which the delivering server writes; without
   one `Sender`, then `From`) is the null sender `<>` or missing, a machine's address
   (`MACHINE_LOCAL_PARTS`, and `owner-…`, `…-request`, `bounce(s)-…`, `no(-)reply-…` forms,
   §2), or the account itself (a reply to oneself would be the start of a loop);
8. the account's address is not among the explicit recipients (To and Cc, §2: mail that reached
   the account by Bcc or through an alias or list is not answered);
9. the account may not send (A8): the reply is not queued and the decision says why.

Not decided here: "at most one reply per sender per `reply_interval_days`" needs every earlier
reply and is the store's conditional upsert (`adapters/auto_replies`); "one decision per
message" is the store's primary key.

The reply (`Reply`) goes to the envelope sender; its subject is the configured subject, ": " and
the original subject (§3.1.5; without an original subject the configured one alone); it carries
`Auto-Submitted: auto-replied` (§5), `In-Reply-To` (the original Message-ID) and `References`
(the original References and Message-ID, §3.1.6); its body is the configured body. From is the
account's address with its alias, as every mail the sender builds.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import getaddresses
from enum import StrEnum

from mailbridge.sender.auto_reply_headers import (
    Incoming,
    envelope_sender,
    is_message_id,
    keyword,
    message_id_in,
    readable,
)

CLOCK_LEEWAY = timedelta(minutes=10)
AUTO_SUBMITTED = "Auto-Submitted"
AUTO_REPLIED = "auto-replied"
# Local parts of senders that are machines (RFC 3834 §2 names MAILER-DAEMON, LISTSERV, majordomo,
# owner-, -request); compared lower-case, after a "+tag" is removed.
MACHINE_LOCAL_PARTS = frozenset({
    "mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply", "do_not_reply",
    "no_reply", "bounce", "bounces", "listserv", "majordomo", "auto-reply", "autoreply",
})  # fmt: skip
MACHINE_PREFIXES = (
    "owner-",
    "bounce-",
    "bounces-",
    "bounce+",
    "no-reply-",
    "noreply-",
    "no-reply.",
    "noreply.",
)
MACHINE_SUFFIXES = ("-request", "-bounces", "-bounce", "-noreply", "-no-reply", "-owner")
LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post")
BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
SUPPRESSING = frozenset({"all", "oof", "autoreply"})  # X-Auto-Response-Suppress values that ask for none
MAX_SUBJECT = 998  # RFC 5322 §2.1.1: one header line


class Hold(StrEnum):
    """Why a message got no reply: stored as the decision's `outcome` (at most 40 characters)."""

    NOT_ENABLED = "not_enabled"
    OUTSIDE_PERIOD = "outside_period"
    NOT_ALLOWED = "not_allowed"  # A12: the account may not set an out-of-office (any more)
    NOT_INBOX = "not_inbox"
    OLDER_THAN_OUT_OF_OFFICE = "older_than_out_of_office"
    AUTO_SUBMITTED = "auto_submitted"
    RESPONSE_SUPPRESSED = "response_suppressed"
    LIST_MAIL = "list_mail"
    BULK_PRECEDENCE = "bulk_precedence"
    NULL_SENDER = "null_sender"
    MACHINE_SENDER = "machine_sender"
    OWN_ADDRESS = "own_address"
    NOT_A_RECIPIENT = "not_a_recipient"
    CANNOT_SEND = "cannot_send"  # A8
    RECENTLY_REPLIED = "recently_replied"  # the store's interval rule, not `decide`'s


@dataclass(frozen=True)
class OutOfOffice:
    enabled: bool
    subject: str
    body: str
    starts_at: datetime | None
    ends_at: datetime | None
    reply_interval_days: int
    saved_at: datetime  # when the settings were last changed

    def active(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (
            self.ends_at is None or now < self.ends_at
        )

    @property
    def began_at(self) -> datetime:
        return self.starts_at or self.saved_at


@dataclass(frozen=True)
class Account:
    address: str
    inbox_folder: str  # the account's inbox (A11 override, else INBOX)
    may_set_out_of_office: bool  # A12
    can_send: bool  # A8


@dataclass(frozen=True)
class Reply:
    to: str  # the envelope sender, as it came
    subject: str
    body: str
    in_reply_to: str | None
    references: tuple[str, ...]

    @property
    def correspondent(self) -> str:
        """Whom the interval counts per: the address lower-cased."""
        return self.to.lower()


def decide(settings: OutOfOffice, account: Account, message: Incoming, now: datetime) -> Reply | Hold:
    """The reply to `message`, or the first rule that holds it back (see the module's order)."""
    if not settings.enabled:
        return Hold.NOT_ENABLED
    if not settings.active(now):
        return Hold.OUTSIDE_PERIOD
    if not account.may_set_out_of_office:
        return Hold.NOT_ALLOWED
    if message.folder != account.inbox_folder:
        return Hold.NOT_INBOX
    dated = message.date()
    if dated is not None and dated < settings.began_at - CLOCK_LEEWAY:
        return Hold.OLDER_THAN_OUT_OF_OFFICE
    held = _automatic(message) or _sender_hold(message, account)
    if held is not None:
        return held
    if not _addressed_to(message, account.address):
        return Hold.NOT_A_RECIPIENT
    if not account.can_send:
        return Hold.CANNOT_SEND
    sender = envelope_sender(message)
    assert sender  # _sender_hold refused the null sender
    return _reply(settings, message, sender)


def _automatic(message: Incoming) -> Hold | None:
    """RFC 3834 §2 and §5: mail sent by a machine or to many is not answered."""
    auto = message.first("auto-submitted")
    if auto is not None and keyword(auto) != "no":
        return Hold.AUTO_SUBMITTED
    suppress = {
        part.strip().lower() for value in message.all("x-auto-response-suppress") for part in value.split(",")
    }
    if suppress & SUPPRESSING:
        return Hold.RESPONSE_SUPPRESSED
    if any(message.headers.get(name) for name in LIST_HEADERS):
        return Hold.LIST_MAIL
    if any(keyword(value) in BULK_PRECEDENCE for value in message.all("precedence")):
        return Hold.BULK_PRECEDENCE
    return None


def _sender_hold(message: Incoming, account: Account) -> Hold | None:
    sender = envelope_sender(message)
    if not sender:
        return Hold.NULL_SENDER
    if machine_address(sender):
        return Hold.MACHINE_SENDER
    if sender.lower() == account.address.lower():
        return Hold.OWN_ADDRESS
    return None


def machine_address(address: str) -> bool:
    """A sender that is a machine: MAILER-DAEMON, noreply-style and list-robot local parts."""
    local = address.rpartition("@")[0].lower().partition("+")[0]
    return (
        local in MACHINE_LOCAL_PARTS or local.startswith(MACHINE_PREFIXES) or local.endswith(MACHINE_SUFFIXES)
    )


def _addressed_to(message: Incoming, address: str) -> bool:
    """The account's address among the explicit recipients (To, Cc), compared case-insensitively."""
    wanted = address.strip().lower()
    listed = getaddresses(message.all("to") + message.all("cc"))
    return any(found.strip().lower() == wanted for _, found in listed)


def _reply(settings: OutOfOffice, message: Incoming, sender: str) -> Reply:
    original = readable(message.first("subject") or "")
    subject = f"{settings.subject}: {original}" if original else settings.subject
    message_id = message_id_in(message.first("message-id"))
    references = [ref for value in message.all("references") for ref in value.split() if is_message_id(ref)]
    if message_id and message_id not in references:
        references.append(message_id)
    return Reply(
        to=sender, subject=subject[:MAX_SUBJECT], body=settings.body, in_reply_to=message_id,
        references=tuple(references),
    )  # fmt: skip
