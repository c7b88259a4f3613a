"""The credentials test's order of steps (T1, O5), gathered from the fetcher and the sender.

Strictly in order, each check asked over NATS request/reply (`common.credential_checks`):
incoming check (fetcher) → outgoing check and test send (sender) → receive and cleanup (fetcher).
A failed step skips every later one, naming it. `can_receive` off: the incoming steps and the
receive are skipped with that reason (the test message, if sent, stays in the inbox); `can_send`
off: the send is not made, so send and receive are skipped with that reason.

The incoming check holds the account's fetch lease when a receive will follow; a run that ends
before the receive hands the lease back (`look=False`), so a scheduled fetch never waits for
longer than the test.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from mailbridge.common.credential_checks import (
    INCOMING_CHECK_SUBJECT,
    INCOMING_STEPS,
    OUTGOING_CHECK_SUBJECT,
    OUTGOING_STEPS,
    RECEIVE_CHECK_SUBJECT,
    RECEIVE_STEPS,
    CheckRefused,
    CheckUnavailable,
    Code,
    IncomingCheckRequest,
    OutgoingCheckRequest,
    ReceiveCheckRequest,
    Status,
    Step,
    StepReport,
    all_skipped,
    ask,
)
from mailbridge.common.db.types import utcnow
from mailbridge.config_api.commands import UNREACHABLE
from nats.aio.client import Client
from pydantic import BaseModel

RECEIVING_OFF = "the account may not receive (can_receive off, A10)"
SENDING_OFF = "the account may not send (can_send off, A8): no test message was sent"


@dataclass(frozen=True)
class Account:
    account_id: uuid.UUID
    can_send: bool
    can_receive: bool


@dataclass(frozen=True)
class Timing:
    receive_timeout_s: float = 60.0
    check_timeout_s: float = 120.0  # an incoming or outgoing check, each of its steps bounded by the services


async def run_checks(
    client: Client, account: Account, test_id: uuid.UUID, timing: Timing
) -> list[StepReport]:
    steps: list[StepReport] = []
    lease: int | None = None
    ids = {"account_id": account.account_id, "test_id": test_id}
    try:
        if account.can_receive:
            hold = timing.receive_timeout_s + 2 * timing.check_timeout_s if account.can_send else None
            request = IncomingCheckRequest(**ids, hold_lease_s=hold)
            found, lease = await _check(
                client, INCOMING_CHECK_SUBJECT, request, INCOMING_STEPS, timing.check_timeout_s
            )
            steps += found
        else:
            steps += all_skipped(INCOMING_STEPS, RECEIVING_OFF)
        if _failed(steps, OUTGOING_STEPS + RECEIVE_STEPS):
            return steps
        outgoing = OutgoingCheckRequest(**ids, send=account.can_send)
        steps += (
            await _check(client, OUTGOING_CHECK_SUBJECT, outgoing, OUTGOING_STEPS, timing.check_timeout_s)
        )[0]
        if _failed(steps, RECEIVE_STEPS):
            return steps
        if not account.can_send or not account.can_receive:
            reason = (
                SENDING_OFF
                if not account.can_send
                else f"{RECEIVING_OFF}: the test message stays in the inbox"
            )
            return [*steps, *all_skipped(RECEIVE_STEPS, reason)]
        receive = ReceiveCheckRequest(**ids, receive_timeout_s=timing.receive_timeout_s, lease_token=lease)
        seconds = timing.receive_timeout_s + timing.check_timeout_s
        lease = None  # the receive releases it, whatever its outcome
        steps += (await _check(client, RECEIVE_CHECK_SUBJECT, receive, RECEIVE_STEPS, seconds))[0]
        return steps
    finally:
        if lease is not None:
            await _release(client, account.account_id, test_id, lease, timing.check_timeout_s)


def report(steps: list[StepReport]) -> dict[str, Any]:
    """The report as stored and shown: {"ok", "steps", "finished_at"}."""
    return {
        "ok": not any(step.status is Status.FAILED for step in steps),
        "steps": [step.model_dump(mode="json") for step in steps],
        "finished_at": utcnow().isoformat(),
    }


def _failed(steps: list[StepReport], later: tuple[Step, ...]) -> bool:
    """Whether a step failed; then every `later` step is appended as skipped, naming it."""
    failed = next((step for step in steps if step.status is Status.FAILED), None)
    if failed is not None:
        steps += all_skipped(later, f"not tried: {failed.step} failed")
    return failed is not None


async def _check(
    client: Client, subject: str, request: BaseModel, expected: tuple[Step, ...], timeout_s: float
) -> tuple[list[StepReport], int | None]:
    """A check's steps; a check nobody answered, or refused, fails its first step saying so."""
    try:
        reply = await ask(client, subject, request, timeout_s)
    except CheckUnavailable as error:
        return _unanswered(expected, f"{error}: is the {_service(subject)} running?"), None
    except UNREACHABLE as error:
        return _unanswered(expected, f"NATS is unreachable ({str(error) or type(error).__name__})"), None
    if isinstance(reply, CheckRefused):
        return _unanswered(expected, f"the {_service(subject)} refused the check: {reply.detail}"), None
    return list(reply.steps), reply.lease_token


def _unanswered(expected: tuple[Step, ...], message: str) -> list[StepReport]:
    first = StepReport(step=expected[0], status=Status.FAILED, code=Code.ERROR, message=message)
    return [first, *all_skipped(expected[1:], f"not tried: {expected[0]} failed")]


def _service(subject: str) -> str:
    return "sender" if subject == OUTGOING_CHECK_SUBJECT else "fetcher"


async def _release(
    client: Client, account_id: uuid.UUID, test_id: uuid.UUID, lease: int, timeout_s: float
) -> None:
    """Hand the fetch lease back without a receive; a fetcher that does not answer lets it expire."""
    request = ReceiveCheckRequest(account_id=account_id, test_id=test_id, lease_token=lease, look=False)
    try:
        await ask(client, RECEIVE_CHECK_SUBJECT, request, timeout_s)
    except (CheckUnavailable, *UNREACHABLE):
        pass
