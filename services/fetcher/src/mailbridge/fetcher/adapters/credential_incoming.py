"""The fetcher's side of the credentials test (T1, O5): the incoming steps, and receiving and
deleting the test message. The same IMAP and POP3 clients as a fetch (`ImapMailbox`,
`Pop3Mailbox`) and the same credentials (`credentials.credentials`: the password, or a broker
token for XOAUTH2); only the steps are taken one by one here, each timed and diagnosed.

Order of effects of the incoming check: resolve the host → open and close a TCP connection → the
client's connect (greeting, and implicit TLS or STARTTLS; the session holds one of the login's
connection slots shared by every replica, #17, or the step says they are all taken) → the login
(an OAuth token the server refuses is asked for once more, as in `signed_in`) → EXAMINE each
configured folder (read-only) → with `hold_lease_s`, take the account's fetch lease as
`credential_checks.holder(test_id)`, so no fetch stores the test message before `receive` deletes
it.

Receive: log in, look for the token in the inbox (IMAP: UID SEARCH HEADER; POP3: TOP of each
message) until `receive_timeout_s`, delete that one message (IMAP: \\Deleted and UID EXPUNGE,
so no other message is expunged; POP3: DELE and QUIT), then release the lease. Nothing is
stored, no MailFetched is published, no sync state is written.
"""

import ssl
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from mailbridge.common import credential_probes as probes
from mailbridge.common.credential_checks import (
    RECEIVE_STEPS,
    CheckRefused,
    CheckReply,
    Diagnosis,
    IncomingCheckRequest,
    ReceiveCheckRequest,
    Reply,
    Step,
    StepLog,
    holder,
)
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.endpoints import Endpoint, IncomingProtocol
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.fetcher import credential_diagnosis as diagnose
from mailbridge.fetcher.adapters.credential_imap import imap_steps
from mailbridge.fetcher.adapters.credential_pop3 import pop3_steps
from mailbridge.fetcher.adapters.credential_receive import Receiving
from mailbridge.fetcher.model import AccountConfig, Lease
from mailbridge.fetcher.ports import Store, TokenSource
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SentFolder = Callable[[uuid.UUID], Awaitable[str | None]]


class IncomingChecks:
    """Answers the incoming check and the receive of `credential_checks` (wired in `main`)."""

    def __init__(
        self, store: Store, tokens: TokenSource, sent_folder: SentFolder, ssl_context: ssl.SSLContext,
        timeout_s: float, poll_s: float = 1.0, limits: SharedLimits | None = None,
    ) -> None:  # fmt: skip
        self._store, self._tokens, self._sent_folder = store, tokens, sent_folder
        self._ssl_context, self._timeout_s, self._poll_s = ssl_context, timeout_s, poll_s
        self._limits = limits  # #17: the test's connections hold the login's shared slots too

    def endpoint(self, account: AccountConfig) -> Endpoint:
        return Endpoint(account.host, account.port, account.security, self._ssl_context, self._timeout_s)

    async def check(self, request: IncomingCheckRequest) -> Reply:
        account = await self._store.load_account(request.account_id)
        if account is None:
            return CheckRefused(account_id=request.account_id, detail="the account does not exist")
        log = StepLog()
        endpoint, where = self.endpoint(account), f"{account.host}:{account.port}"
        host, port, seconds = account.host, account.port, self._timeout_s

        def on_connect(error: BaseException) -> Diagnosis:
            return diagnose.connection(error, where)

        await log.run(Step.RESOLVE, lambda: probes.resolve(host, port, seconds), on_connect,
                      lambda found: f"{host} resolves to {', '.join(found)}")  # fmt: skip
        await log.run(Step.CONNECT_INCOMING, lambda: probes.reach(host, port, seconds), on_connect,
                      lambda _: f"{where} accepts connections")  # fmt: skip
        tokens = diagnose.RefusalMemory(self._tokens)
        if account.protocol is IncomingProtocol.POP3:
            await pop3_steps(account, endpoint, log, where, tokens, self._limits)
        else:
            folders = await self._folders(account)
            await imap_steps(account, endpoint, log, where, tokens, folders, self._limits)
        lease = None
        if request.hold_lease_s is not None and log.failed is None:
            ttl = timedelta(seconds=request.hold_lease_s)
            lease = await self._store.acquire_lease(account.account_id, holder(request.test_id), ttl)
        token = None if lease is None else lease.token
        return CheckReply(account_id=account.account_id, steps=tuple(log.reports), lease_token=token)

    async def receive(self, request: ReceiveCheckRequest) -> Reply:
        account = await self._store.load_account(request.account_id)
        lease = None
        if request.lease_token is not None:
            lease = Lease(request.account_id, holder(request.test_id), request.lease_token)
        try:
            if account is None:
                return CheckRefused(account_id=request.account_id, detail="the account does not exist")
            log = StepLog()
            if not request.look:
                log.skip_rest(RECEIVE_STEPS, "the test message was not sent")
            else:
                remembering = diagnose.RefusalMemory(self._tokens)
                endpoint = self.endpoint(account)
                receiving = Receiving(account, endpoint, remembering, self._poll_s, self._limits)
                await receiving.run(log, request.test_id, request.receive_timeout_s)
            return CheckReply(account_id=account.account_id, steps=tuple(log.reports))
        finally:
            if lease is not None:
                await self._store.release_lease(lease)

    async def _folders(self, account: AccountConfig) -> list[str]:
        """The inbox, trash, spam and sent folders as configured, and the chosen sync folders."""
        sent = await self._sent_folder(account.account_id)
        wanted = [account.inbox_folder, account.trash_folder, account.spam_folder, *account.sync_folders]
        return list(dict.fromkeys([*wanted, *([sent] if sent else [])]))


def sent_folders(sessions: async_sessionmaker[AsyncSession]) -> SentFolder:
    """The account's server's Sent folder (S10), for the `folders` step; None on POP3."""

    async def sent_folder(account_id: uuid.UUID) -> str | None:
        statement = (
            select(MailServer.sent_folder, MailServer.incoming_protocol)
            .join(MailAccount, MailAccount.server_id == MailServer.id)
            .where(MailAccount.id == account_id)
        )
        async with sessions() as session:
            found = (await session.execute(statement)).one_or_none()
        return (
            None if found is None or found.incoming_protocol == IncomingProtocol.POP3 else found.sent_folder
        )

    return sent_folder
