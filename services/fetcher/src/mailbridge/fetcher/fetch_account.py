"""One fetch of one account, end to end: configuration → lease → protocol sync → fetch state.

Outcomes: `done` (acknowledge; recorded as `ok`, or `partial` when single messages could not be
fetched, e.g. a server's stand-in, #11), `busy` (another replica holds the lease: try again shortly),
`skipped` (cannot receive, or a permanent failure that the configuration has not fixed yet),
`retry` (a transient failure: redeliver with backoff). Permanent failures are recorded with
their reason and acknowledged, so a wrong password does not become a retry storm.
"""

import logging
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

from mailbridge.common.db.types import utcnow
from mailbridge.common.endpoints import Endpoint, IncomingProtocol
from mailbridge.common.events import FetchReason
from mailbridge.fetcher import lease_keeper
from mailbridge.fetcher.adapters.imap_connections import ImapConnections
from mailbridge.fetcher.adapters.pop3 import Pop3Mailbox
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.failures import FetchFailure, Kind, permanent, transient
from mailbridge.fetcher.model import AccountConfig, LastOutcome, Lease, LeaseLost
from mailbridge.fetcher.ports import Heartbeat
from mailbridge.fetcher.sync import Counts, Limits, sync_imap, sync_pop3
from mailbridge.fetcher.sync_plan import Cursor

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"
    BUSY = "busy"
    SKIPPED = "skipped"
    RETRY = "retry"


@dataclass(frozen=True)
class FetchDeps:
    store: MailStore
    ssl_context: ssl.SSLContext
    holder: str
    limits: Limits = field(default_factory=Limits)
    timeout_s: float = 30.0
    connections: ImapConnections = field(default_factory=ImapConnections)  # keeps none by default


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str | None = None
    counts: Counts | None = None


async def fetch_account(
    deps: FetchDeps, account_id: uuid.UUID, reason: FetchReason, heartbeat: Heartbeat
) -> Result:
    begun = await deps.store.begin_fetch(
        account_id, deps.holder, deps.limits.lease_ttl, partial(refusal, reason)
    )
    if begun.account is None:
        return Result(Outcome.SKIPPED, "the account no longer exists")
    if begun.refusal is not None:
        return Result(Outcome.SKIPPED, begun.refusal)
    if begun.lease is None:
        return Result(Outcome.BUSY, "another fetch of this account is running")
    outcome: dict[str, Any] | None = None
    lease, ttl = begun.lease, deps.limits.lease_ttl
    try:
        async with lease_keeper.kept(partial(deps.store.renew_lease, lease, ttl), ttl):
            result, outcome = await _run(deps, begun.account, lease, begun.cursors, reason, heartbeat)
        return result
    finally:
        await deps.store.end_fetch(lease, outcome)


def refusal(reason: FetchReason, account: AccountConfig, previous: LastOutcome | None) -> str | None:
    """Why the account is not fetched now, or None."""
    if not account.can_receive:
        return "the account may not receive (A10)"
    if (
        reason is FetchReason.SCHEDULED
        and previous is not None
        and previous.permanent
        and previous.config_version == account.config_version
    ):
        return f"waiting for a configuration change: {previous.reason}"
    return None


async def _run(
    deps: FetchDeps, account: AccountConfig, lease: Lease, cursors: Mapping[str, Cursor],
    reason: FetchReason, heartbeat: Heartbeat,
) -> tuple[Result, dict[str, Any] | None]:  # fmt: skip
    """The sync and what to record of it (nothing when the lease was lost)."""
    started = utcnow()
    try:
        counts = await _sync(deps, account, lease, cursors, reason is FetchReason.RELOAD, heartbeat)
    except LeaseLost as lost:
        return Result(Outcome.BUSY, str(lost)), None
    except Exception as error:  # noqa: BLE001 - whatever a library raises ends as a recorded failure
        failure = error if isinstance(error, FetchFailure) else _unexpected(error)
        failed = {
            "status": "failed", "reason": failure.reason, "permanent": failure.kind is Kind.PERMANENT,
            "config_version": account.config_version, "last_started_at": started,
            "last_finished_at": utcnow(),
        }  # fmt: skip
        outcome = Outcome.DONE if failure.kind is Kind.PERMANENT else Outcome.RETRY
        return Result(outcome, failure.reason), failed
    status, why = _partly(counts)
    done = {
        "status": status, "reason": why, "permanent": False, "config_version": account.config_version,
        "last_started_at": started, "last_finished_at": utcnow(), "new_messages": counts.new,
        "counts": {"flags_changed": counts.flags_changed, "deleted_on_server": counts.deleted_on_server,
                   "on_server": counts.folders, "skipped": counts.skipped, "failed": counts.failed},
    }  # fmt: skip
    return Result(Outcome.DONE, why, counts), done


def _partly(counts: Counts) -> tuple[str, str | None]:
    """`ok`, or `partial` with the first reason when messages failed (they stay on the server and
    the next fetch tries them again, #11)."""
    if not counts.failed:
        return "ok", None
    return "partial", f"{len(counts.failed)} message(s) not fetched: {counts.failed[0]['reason']}"


def _unexpected(error: Exception) -> FetchFailure:
    """A failure nobody foresaw: logged with its traceback, recorded with its type and message,
    retried like any transient one."""
    logger.exception("fetch failed unexpectedly")
    return transient(f"unexpected error: {type(error).__name__}: {error}")


async def _sync(
    deps: FetchDeps, account: AccountConfig, lease: Lease, cursors: Mapping[str, Cursor], reload: bool,
    heartbeat: Heartbeat,
) -> Counts:  # fmt: skip
    if account.uses_oauth:
        raise permanent("OAuth accounts need the oauth-broker, which is not part of this installation yet")
    if account.password is None:
        raise permanent("the account has no password (A3)")
    endpoint = Endpoint(account.host, account.port, account.security, deps.ssl_context, deps.timeout_s)
    if account.protocol is IncomingProtocol.POP3:
        pop3 = Pop3Mailbox(endpoint)
        try:
            await pop3.connect_and_login(account.login, account.password)
            return await sync_pop3(account, pop3, deps.store, lease, deps.limits, heartbeat, reload)
        finally:
            await pop3.close()
    async with deps.connections.logged_in(account, endpoint) as imap:
        known = {} if reload else cursors
        return await sync_imap(account, imap, deps.store, lease, known, deps.limits, heartbeat)
