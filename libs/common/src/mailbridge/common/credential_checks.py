"""The credentials test (T1, O5), declared once: its steps, statuses and diagnosis codes, the report
of one step, and the requests config-api sends the fetcher and the sender over NATS request/reply
(core NATS, never a stream; every replica listens in its service's queue group, so each request is
answered once).

The whole test, in order (config-api gathers it, `STEPS`):
- incoming check (fetcher): `resolve`, `connect_incoming`, `tls_incoming`, `login_incoming`,
  `folders`. When a receive follows, the fetcher also takes the account's fetch lease (held for
  `hold_lease_s`) and says its token in the reply: while the test message is on its way, no fetch
  of the account runs, so the message never reaches the store nor a MailFetched.
- outgoing check (sender): `connect_outgoing`, `tls_outgoing`, `login_outgoing`, `send` (a test
  message from the account to its own address carrying `TEST_HEADER: <token>`; never appended to
  the Sent folder, no outbox row).
- receive (fetcher): `receive` (the token seen in the inbox within `receive_timeout_s`) and
  `cleanup` (that message deleted where the protocol allows), then the lease released; sync state
  is never touched. `look=False` only releases the lease (the send did not happen).

A failed step carries a `Code` a program can act on and a `message` a person understands: what
failed and what to change. A step whose prerequisite failed is `skipped`, with the reason.
"""

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from mailbridge.common import request_reply
from mailbridge.common.request_reply import NoAnswer
from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

INCOMING_CHECK_SUBJECT = "mailbridge.request.credential_incoming.v1"
OUTGOING_CHECK_SUBJECT = "mailbridge.request.credential_outgoing.v1"
RECEIVE_CHECK_SUBJECT = "mailbridge.request.credential_receive.v1"
FETCHER_QUEUE_GROUP = "fetcher-credential-checks"
SENDER_QUEUE_GROUP = "sender-credential-checks"
TEST_HEADER = "X-Mailbridge-Credential-Test"
MAX_RECEIVE_TIMEOUT_S = 600


class Step(StrEnum):
    RESOLVE = "resolve"
    CONNECT_INCOMING = "connect_incoming"
    TLS_INCOMING = "tls_incoming"
    LOGIN_INCOMING = "login_incoming"
    FOLDERS = "folders"
    CONNECT_OUTGOING = "connect_outgoing"
    TLS_OUTGOING = "tls_outgoing"
    LOGIN_OUTGOING = "login_outgoing"
    SEND = "send"
    RECEIVE = "receive"
    CLEANUP = "cleanup"


STEPS = tuple(Step)
INCOMING_STEPS = (Step.RESOLVE, Step.CONNECT_INCOMING, Step.TLS_INCOMING, Step.LOGIN_INCOMING, Step.FOLDERS)
OUTGOING_STEPS = (Step.CONNECT_OUTGOING, Step.TLS_OUTGOING, Step.LOGIN_OUTGOING, Step.SEND)
RECEIVE_STEPS = (Step.RECEIVE, Step.CLEANUP)


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class Code(StrEnum):
    UNKNOWN_HOST = "unknown_host"
    CONNECTION_REFUSED = "connection_refused"
    TIMEOUT = "timeout"
    TLS_ON_PLAIN_PORT = "tls_on_plain_port"
    PLAIN_ON_TLS_PORT = "plain_on_tls_port"
    CERTIFICATE_UNTRUSTED = "certificate_untrusted"
    CERTIFICATE_EXPIRED = "certificate_expired"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    AUTH_FAILED = "auth_failed"
    MECHANISM_UNAVAILABLE = "mechanism_unavailable"
    STARTTLS_UNAVAILABLE = "starttls_unavailable"
    PLAINTEXT_AUTH_REFUSED = "plaintext_auth_refused"  # S4: no AUTH in clear off loopback (#17)
    CONNECTION_LIMIT_REACHED = "connection_limit_reached"  # the login's shared slots all held (#17)
    OAUTH_NOT_CONNECTED = "oauth_not_connected"
    OAUTH_NEEDS_RECONNECT = "oauth_needs_reconnect"
    FOLDER_MISSING = "folder_missing"
    SEND_REJECTED = "send_rejected"
    NOT_RECEIVED = "not_received"
    ERROR = "error"  # nothing above fits; the message says what happened


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepReport(_Frozen):
    """One step's result, as the API shows it."""

    step: Step
    status: Status
    code: Code | None = None  # set when failed
    message: str
    duration_ms: int = 0


@dataclass(frozen=True)
class Diagnosis:
    """Why a step failed: the code, and for a person what failed and what to change."""

    code: Code
    message: str


def skipped(step: Step, reason: str) -> StepReport:
    return StepReport(step=step, status=Status.SKIPPED, message=reason)


def all_skipped(steps: tuple[Step, ...], reason: str) -> tuple[StepReport, ...]:
    return tuple(skipped(step, reason) for step in steps)


T = TypeVar("T")


class StepLog:
    """The steps of one check in order, each timed; after a failure the rest are skipped."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.reports: list[StepReport] = []
        self._clock = clock
        self.failed: StepReport | None = None

    async def run(
        self, step: Step, work: Callable[[], Awaitable[T]], diagnose: Callable[[BaseException], Diagnosis],
        done: Callable[[T], str],
    ) -> tuple[bool, T | None]:  # fmt: skip
        """Run `work` as `step`: (True, its result), or (False, None) with the failure recorded.
        Skipped at once when an earlier step failed."""
        if self.failed is not None:
            self.skip(step, f"not tried: {self.failed.step} failed")
            return False, None
        started = self._clock()
        try:
            result = await work()
        except Exception as error:  # noqa: BLE001 - every failure becomes a diagnosed step
            found = diagnose(error)
            self.fail(step, found, started)
            return False, None
        self.reports.append(
            StepReport(step=step, status=Status.OK, message=done(result), duration_ms=self._ms(started))
        )
        return True, result

    def fail(self, step: Step, found: Diagnosis, started: float | None = None) -> None:
        ms = 0 if started is None else self._ms(started)
        report = StepReport(
            step=step, status=Status.FAILED, code=found.code, message=found.message, duration_ms=ms
        )
        self.reports.append(report)
        self.failed = report

    def ok(self, step: Step, message: str) -> None:
        self.reports.append(StepReport(step=step, status=Status.OK, message=message))

    def skip(self, step: Step, reason: str) -> None:
        self.reports.append(skipped(step, reason))

    def skip_rest(self, steps: tuple[Step, ...], reason: str) -> None:
        done = {report.step for report in self.reports}
        for step in steps:
            if step not in done:
                self.skip(step, reason)

    def _ms(self, started: float) -> int:
        return max(0, round((self._clock() - started) * 1000))


# --- requests and replies -------------------------------------------------------------------


class IncomingCheckRequest(_Frozen):
    account_id: uuid.UUID
    test_id: uuid.UUID
    hold_lease_s: float | None = Field(default=None, gt=0)  # a receive follows: hold the fetch lease


class OutgoingCheckRequest(_Frozen):
    account_id: uuid.UUID
    test_id: uuid.UUID  # its hex is the token in TEST_HEADER and the subject
    send: bool = True  # False (the account may not send): connect, TLS and login only


class ReceiveCheckRequest(_Frozen):
    account_id: uuid.UUID
    test_id: uuid.UUID
    receive_timeout_s: float = Field(default=60, ge=0, le=MAX_RECEIVE_TIMEOUT_S)
    lease_token: int | None = None  # the lease the incoming check took, released at the end
    look: bool = True  # False: the test message was never sent, only release the lease


class CheckReply(_Frozen):
    account_id: uuid.UUID
    steps: tuple[StepReport, ...]
    lease_token: int | None = None  # incoming check with hold_lease_s: the fetch lease it holds


class CheckRefused(_Frozen):
    account_id: uuid.UUID | None
    detail: str  # e.g. the account does not exist (any more)


Reply = CheckReply | CheckRefused
REPLY: TypeAdapter[Reply] = TypeAdapter(Reply)


def message_token(test_id: uuid.UUID) -> str:
    """What the test message carries in TEST_HEADER and its subject."""
    return test_id.hex


def holder(test_id: uuid.UUID) -> str:
    """The fetch lease's holder while a test waits for its message."""
    return f"credential-test:{test_id.hex}"


class CheckUnavailable(NoAnswer):
    """No fetcher or sender answered in time (none running, NATS down, or too slow)."""

    no_responders = "nobody answers {subject} (no fetcher or sender running)"


async def ask(client: Client, subject: str, request: BaseModel, timeout_s: float) -> Reply:
    """One check; CheckUnavailable names why when nobody answers in time."""
    return await request_reply.ask(client, subject, request, REPLY, timeout_s, CheckUnavailable)
