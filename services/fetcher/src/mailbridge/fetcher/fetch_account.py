"""One fetch of one account, end to end: configuration → lease → protocol sync → fetch state.

Outcomes: `done` (acknowledge; recorded as `ok`, or `partial` when single messages could not be
fetched, e.g. a server's stand-in, #11), `busy` (another replica holds the lease: try again shortly),
`skipped` (cannot receive, or a permanent failure that the configuration has not fixed yet),
`retry` (a transient failure: redeliver with backoff). Permanent failures are recorded with
their reason and acknowledged, so a wrong password does not become a retry storm; so is an OAuth
account the broker holds no usable grant for (O4), and scheduled fetches of an OAuth account wait
until it is connected. A certificate failure records the server's certificate, and an automatic
fetch held back by it runs again once the server presents another one (#17, `certificate_hold`).
"""

import logging
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

from mailbridge.common.certificates import verification_error
from mailbridge.common.db.types import utcnow
from mailbridge.common.endpoints import Endpoint, IncomingProtocol
from mailbridge.common.events import FetchReason
from mailbridge.fetcher import certificate_hold, lease_keeper
from mailbridge.fetcher.credentials import signed_in
from mailbridge.fetcher.failures import FetchFailure, Kind, transient
from mailbridge.fetcher.fetch_record import Counts, FetchRecord, failed, succeeded
from mailbridge.fetcher.model import AccountConfig, FetchStart, LastOutcome, Lease, LeaseLost
from mailbridge.fetcher.ports import (
    CertificateReader,
    Heartbeat,
    ImapConnector,
    Pop3Connector,
    Store,
    TokenSource,
)
from mailbridge.fetcher.sync import Limits, sync_imap, sync_pop3
from mailbridge.fetcher.sync_plan import Cursor

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"
    BUSY = "busy"
    SKIPPED = "skipped"
    RETRY = "retry"


@dataclass(frozen=True)
class FetchDeps:
    """The ports a fetch works through (wired in `main`) and its settings: the IMAP connections
    (`connections`, maybe kept between fetches) and POP3 sessions are opened to an `Endpoint`
    with `ssl_context` and `timeout_s`; OAuth accounts log in with tokens from `tokens`; `certificates`
    reads a server's certificate after a certificate failure (#17)."""

    store: Store
    ssl_context: ssl.SSLContext
    holder: str
    limits: Limits = field(default_factory=Limits)
    timeout_s: float = 30.0
    connections: ImapConnector = field(kw_only=True)
    pop3: Pop3Connector = field(kw_only=True)
    tokens: TokenSource = field(kw_only=True)
    certificates: CertificateReader = field(kw_only=True)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str | None = None
    counts: Counts | None = None


async def fetch_account(
    deps: FetchDeps, account_id: uuid.UUID, reason: FetchReason, heartbeat: Heartbeat
) -> Result:
    ttl = deps.limits.lease_ttl
    begun = await deps.store.begin_fetch(account_id, deps.holder, ttl, partial(refusal, reason))
    if begun.refusal is not None and reason in AUTOMATIC and await _certificate_replaced(deps, begun):
        go_on = partial(refusal, reason, replaced=True)
        begun = await deps.store.begin_fetch(account_id, deps.holder, ttl, go_on)
    if begun.account is None:
        return Result(Outcome.SKIPPED, "the account no longer exists")
    if begun.refusal is not None:
        return Result(Outcome.SKIPPED, begun.refusal)
    if begun.lease is None:
        return Result(Outcome.BUSY, "another fetch of this account is running")
    outcome: FetchRecord | None = None
    lease = begun.lease
    try:
        async with lease_keeper.kept(partial(deps.store.renew_lease, lease, ttl), ttl, heartbeat):
            result, outcome = await _run(deps, begun.account, lease, begun.cursors, reason, heartbeat)
        return result
    finally:
        await deps.store.end_fetch(lease, outcome)


AUTOMATIC = (FetchReason.SCHEDULED, FetchReason.PUSH)  # nobody asked: the schedule, IMAP IDLE (#18)


def refusal(
    reason: FetchReason, account: AccountConfig, previous: LastOutcome | None, replaced: bool = False
) -> str | None:
    """Why the account is not fetched now, or None. `replaced`: the server presents
    another certificate than the one a permanent failure met, which lets the fetch go as a
    configuration change does (#17)."""
    if not account.can_receive:
        return "the account may not receive (A10)"
    automatic = reason in AUTOMATIC
    if automatic and account.uses_oauth and account.oauth_state != "connected":
        return f"waiting for the account to be connected (O4): {account.oauth_reason or account.oauth_state}"
    if automatic and not replaced and previous and certificate_hold.waits_for_change(account, previous):
        return f"waiting for a configuration change: {previous.reason}"
    return None


async def _run(
    deps: FetchDeps, account: AccountConfig, lease: Lease, cursors: Mapping[str, Cursor],
    reason: FetchReason, heartbeat: Heartbeat,
) -> tuple[Result, FetchRecord | None]:  # fmt: skip
    """The sync and what to record of it (nothing when the lease was lost)."""
    started = utcnow()
    try:
        counts = await _sync(deps, account, lease, cursors, reason is FetchReason.RELOAD, heartbeat)
    except LeaseLost as lost:
        return Result(Outcome.BUSY, str(lost)), None
    except Exception as error:  # noqa: BLE001 - whatever a library raises ends as a recorded failure
        failure = error if isinstance(error, FetchFailure) else _unexpected(error)
        permanently = failure.kind is Kind.PERMANENT
        certificate = await _met_certificate(deps, account, error) if permanently else None
        record = failed(account.config_version, started, utcnow(), failure.reason, permanently, certificate)
        return Result(Outcome.RETRY if failure.retryable else Outcome.DONE, failure.reason), record
    done = succeeded(account.config_version, started, utcnow(), counts)
    return Result(Outcome.DONE, done.reason, counts), done


async def _certificate_replaced(deps: FetchDeps, begun: FetchStart) -> bool:
    """#17: an account held back by a certificate failure (nothing else): whether the server
    presents another certificate now (one handshake that only reads it)."""
    if begun.account is None:
        return False
    recorded = certificate_hold.held_certificate(begun.account, begun.last)
    if recorded is None:
        return False
    presented = await deps.certificates.presented(_endpoint(deps, begun.account), begun.account.protocol)
    return certificate_hold.certificate_changed(recorded, presented)


async def _met_certificate(deps: FetchDeps, account: AccountConfig, error: Exception) -> str | None:
    """#17: after a certificate failure, the fingerprint of the certificate the server presents
    (read again without verifying it: the failed handshake does not hand it over), else None."""
    if verification_error(error) is None:
        return None
    return await deps.certificates.presented(_endpoint(deps, account), account.protocol)


def _endpoint(deps: FetchDeps, account: AccountConfig) -> Endpoint:
    return Endpoint(account.host, account.port, account.security, deps.ssl_context, deps.timeout_s)


def _unexpected(error: Exception) -> FetchFailure:
    """A failure nobody foresaw: logged with its traceback, recorded with its type and message,
    retried like any transient one."""
    logger.exception("fetch failed unexpectedly")
    return transient(f"unexpected error: {type(error).__name__}: {error}")


async def _sync(
    deps: FetchDeps, account: AccountConfig, lease: Lease, cursors: Mapping[str, Cursor], reload: bool,
    heartbeat: Heartbeat,
) -> Counts:  # fmt: skip
    endpoint = _endpoint(deps, account)
    if account.protocol is IncomingProtocol.POP3:
        pop3_login = partial(deps.pop3.logged_in, account, endpoint)
        async with signed_in(account, deps.tokens, pop3_login) as pop3:
            return await sync_pop3(account, pop3, deps.store, lease, deps.limits, heartbeat, reload)
    imap_login = partial(deps.connections.logged_in, account, endpoint)
    async with signed_in(account, deps.tokens, imap_login) as imap:
        known = {} if reload else cursors
        return await sync_imap(account, imap, deps.store, lease, known, deps.limits, heartbeat)
