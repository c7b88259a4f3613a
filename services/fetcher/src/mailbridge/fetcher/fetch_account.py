"""One fetch of one account, end to end: configuration → lease → protocol sync → fetch state.

Outcomes: `done` (acknowledge), `busy` (another replica holds the lease: try again shortly),
`skipped` (cannot receive, or a permanent failure that the configuration has not fixed yet),
`retry` (a transient failure: redeliver with backoff). Permanent failures are recorded with
their reason and acknowledged, so a wrong password does not become a retry storm.
"""

import ssl
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from mailbridge.common.db.types import utcnow
from mailbridge.common.endpoints import IncomingProtocol
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.adapters.imap import ImapEndpoint, ImapMailbox
from mailbridge.fetcher.adapters.pop3 import Pop3Endpoint, Pop3Mailbox
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.failures import FetchFailure, Kind, permanent
from mailbridge.fetcher.model import AccountConfig, Lease, LeaseLost
from mailbridge.fetcher.ports import Heartbeat
from mailbridge.fetcher.sync import Counts, Limits, sync_imap, sync_pop3


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


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str | None = None
    counts: Counts | None = None


async def fetch_account(
    deps: FetchDeps, account_id: uuid.UUID, reason: FetchReason, heartbeat: Heartbeat
) -> Result:
    account = await deps.store.load_account(account_id)
    if account is None:
        return Result(Outcome.SKIPPED, "the account no longer exists")
    if not account.can_receive:
        return Result(Outcome.SKIPPED, "the account may not receive (A10)")
    previous = await deps.store.fetch_state(account_id)
    if (
        reason is FetchReason.SCHEDULED
        and previous is not None
        and previous.permanent
        and previous.config_version == account.config_version
    ):
        return Result(Outcome.SKIPPED, f"waiting for a configuration change: {previous.reason}")
    lease = await deps.store.acquire_lease(account_id, deps.holder, deps.limits.lease_ttl)
    if lease is None:
        return Result(Outcome.BUSY, "another fetch of this account is running")
    try:
        return await _run(deps, account, lease, reason, heartbeat)
    finally:
        await deps.store.release_lease(lease)


async def _run(
    deps: FetchDeps, account: AccountConfig, lease: Lease, reason: FetchReason, heartbeat: Heartbeat
) -> Result:
    started = utcnow()
    try:
        counts = await _sync(deps, account, lease, reason is FetchReason.RELOAD, heartbeat)
    except FetchFailure as failure:
        await deps.store.record(
            account.account_id, status="failed", reason=failure.reason,
            permanent=failure.kind is Kind.PERMANENT, config_version=account.config_version,
            last_started_at=started, last_finished_at=utcnow(),
        )  # fmt: skip
        outcome = Outcome.DONE if failure.kind is Kind.PERMANENT else Outcome.RETRY
        return Result(outcome, failure.reason)
    except LeaseLost as lost:
        return Result(Outcome.BUSY, str(lost))
    await deps.store.record(
        account.account_id, status="ok", reason=None, permanent=False,
        config_version=account.config_version, last_started_at=started, last_finished_at=utcnow(),
        new_messages=counts.new,
        counts={"flags_changed": counts.flags_changed, "deleted_on_server": counts.deleted_on_server,
                "on_server": counts.folders},
    )  # fmt: skip
    return Result(Outcome.DONE, None, counts)


async def _sync(
    deps: FetchDeps, account: AccountConfig, lease: Lease, reload: bool, heartbeat: Heartbeat
) -> Counts:
    if account.uses_oauth:
        raise permanent("OAuth accounts need the oauth-broker, which is not part of this installation yet")
    if account.password is None:
        raise permanent("the account has no password (A3)")
    if account.protocol is IncomingProtocol.POP3:
        endpoint = Pop3Endpoint(
            account.host, account.port, account.security, deps.ssl_context, deps.timeout_s
        )
        pop3 = Pop3Mailbox(endpoint)
        try:
            await pop3.connect_and_login(account.login, account.password)
            return await sync_pop3(account, pop3, deps.store, lease, deps.limits, heartbeat, reload)
        finally:
            await pop3.close()
    imap_endpoint = ImapEndpoint(
        account.host, account.port, account.security, deps.ssl_context, deps.timeout_s
    )
    async with ImapMailbox(imap_endpoint) as imap:
        await imap.connect()
        await imap.login(account.login, account.password)
        return await sync_imap(account, imap, deps.store, lease, deps.limits, heartbeat, reload)
