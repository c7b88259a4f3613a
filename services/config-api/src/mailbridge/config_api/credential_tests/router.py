"""Routes: POST /mail-accounts/{id}/test runs the credentials test (T1, O5); GET
/mail-accounts/{id}/tests/{test_id} shows a run. Who may: whoever may see the account (an admin,
the account's user, a member of its group), as for the account's other routes.

The test runs in a task of its own, so a client that goes away mid-test leaves neither a lease nor
a run behind: a synchronous request waits for it (200 with the report), `?async=true` answers 202
with the run's URL at once. A request while a test of the account runs joins that test (the
partial unique index on credential_tests) instead of starting a second one. NATS not connected:
503 with Retry-After, nothing started.
"""

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from mailbridge.common.credential_checks import MAX_RECEIVE_TIMEOUT_S
from mailbridge.config_api import crud
from mailbridge.config_api.commands import RETRY_AFTER_S
from mailbridge.config_api.credential_tests import runs
from mailbridge.config_api.credential_tests.schemas import CredentialTestOut, ReportOut
from mailbridge.config_api.credential_tests.service import Account, Timing, report, run_checks
from mailbridge.config_api.deps import AppContext, CtxDep
from mailbridge.config_api.errors import NotFound, ServiceUnavailable
from mailbridge.config_api.mail_accounts.service import MailAccounts
from mailbridge.config_api.problems import PROBLEM_RESPONSES, problem_docs

router = APIRouter(tags=["mail accounts"], responses=PROBLEM_RESPONSES)
accounts = MailAccounts()
POLL_S = 0.25  # how often a joined request looks whether the running test has finished


@router.post(
    "/mail-accounts/{account_id}/test", operation_id="test_mail_account", response_model=ReportOut,
    responses={202: {"model": CredentialTestOut, "description": "?async=true: started or joined; poll `url`"},
               **problem_docs(503)},
)  # fmt: skip
async def run_credentials_test(
    ctx: CtxDep, request: Request, account_id: uuid.UUID,
    receive_timeout_s: Annotated[float, Query(ge=0, le=MAX_RECEIVE_TIMEOUT_S)] = 60,
    run_async: Annotated[bool, Query(alias="async")] = False,
) -> ReportOut | JSONResponse:  # fmt: skip
    """Check login (incoming and outgoing), sending and receiving, step by step (T1, O5)."""
    row = await crud.get_row(accounts, ctx, account_id)
    account = Account(row.id, row.can_send, row.can_receive)
    await ctx.session.close()  # no database transaction is held while the services answer
    context: AppContext = request.app.state.context
    if not context.broker.connection.is_connected:
        raise ServiceUnavailable(
            f"NATS is unreachable, so no credentials test was started; try again in {RETRY_AFTER_S} s",
            RETRY_AFTER_S,
        )
    started = await runs.start_or_join(context.sessions, account_id)
    task = None
    if not started.joined:
        timing = Timing(receive_timeout_s=receive_timeout_s)
        task = _spawn(request, _run(context, account, started.test_id, timing))
    if run_async:
        found = await _test_out(request, account_id, started.test_id)
        return JSONResponse(found.model_dump(mode="json"), status_code=202, headers={"Location": found.url})
    if task is not None:
        await asyncio.shield(task)
    return await _finished_report(request, account_id, started.test_id)


@router.get("/mail-accounts/{account_id}/tests/{test_id}", operation_id="get_mail_account_test")
async def get_test(
    ctx: CtxDep, request: Request, account_id: uuid.UUID, test_id: uuid.UUID
) -> CredentialTestOut:
    """A credentials test run: `running`, or `finished` with its report."""
    await crud.get_row(accounts, ctx, account_id)
    await ctx.session.close()
    return await _test_out(request, account_id, test_id)


async def _run(context: AppContext, account: Account, test_id: uuid.UUID, timing: Timing) -> None:
    try:
        steps = await run_checks(context.broker.connection, account, test_id, timing)
        await runs.finish(context.sessions, test_id, report(steps))
    except BaseException:
        await asyncio.shield(runs.finish(context.sessions, test_id, runs.abandoned()))
        raise


async def _test_out(request: Request, account_id: uuid.UUID, test_id: uuid.UUID) -> CredentialTestOut:
    context: AppContext = request.app.state.context
    row = await runs.load(context.sessions, account_id, test_id)
    if row is None:
        raise NotFound(f"credentials test {test_id} of mail account {account_id} does not exist")
    url = str(request.url_for("get_test", account_id=account_id, test_id=test_id))
    return CredentialTestOut(
        id=row.id, account_id=row.account_id, status="finished" if row.status == runs.FINISHED else "running",
        started_at=row.started_at, finished_at=row.finished_at,
        report=ReportOut.model_validate(row.report) if row.report is not None else None,
        url=url,
    )  # fmt: skip


async def _finished_report(request: Request, account_id: uuid.UUID, test_id: uuid.UUID) -> ReportOut:
    """The run's report, waiting while it runs (a joined request); bounded by STALE_AFTER."""
    async with asyncio.timeout(runs.STALE_AFTER.total_seconds()):
        while True:
            found = await _test_out(request, account_id, test_id)
            if found.status == "finished" and found.report is not None:
                return found.report
            await asyncio.sleep(POLL_S)


def _spawn(request: Request, work: Coroutine[Any, Any, None]) -> "asyncio.Task[None]":
    """A test's task, kept referenced on the app until it ends."""
    running: set[asyncio.Task[None]] | None = getattr(request.app.state, "credential_tests", None)
    if running is None:
        running = request.app.state.credential_tests = set()
    task = asyncio.get_running_loop().create_task(work)
    running.add(task)
    task.add_done_callback(running.discard)
    return task
