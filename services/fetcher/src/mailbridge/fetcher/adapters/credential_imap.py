"""IMAP's incoming steps of the credentials test (T1): the TLS step is the client's connect
(greeting, implicit TLS or STARTTLS, then CAPABILITY), the login is LOGIN or AUTHENTICATE XOAUTH2 as
in a fetch (a refused token once more with a fresh one, on a new connection: `signed_in`'s rule),
after checking that the server offers the mechanism at all; `folders` EXAMINEs (read-only)
each folder the account is configured with."""

from contextlib import AsyncExitStack

from mailbridge.common.connection_slots import held_slot
from mailbridge.common.credential_checks import Step, StepLog
from mailbridge.common.credential_diagnosis import mechanism_unavailable
from mailbridge.common.endpoints import Endpoint
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.fetcher import credential_diagnosis as diagnose
from mailbridge.fetcher.adapters.credential_tls import plain_on_tls, secured
from mailbridge.fetcher.adapters.imap import ImapMailbox
from mailbridge.fetcher.adapters.imap_failures import text
from mailbridge.fetcher.credentials import credentials
from mailbridge.fetcher.failures import FetchFailure, TokenRejected
from mailbridge.fetcher.model import AccountConfig, Credentials, Mechanism
from mailbridge.fetcher.ports import TokenSource


async def imap_steps(
    account: AccountConfig, endpoint: Endpoint, log: StepLog, where: str, tokens: diagnose.RefusalMemory,
    folders: list[str], limits: SharedLimits | None = None,
) -> None:  # fmt: skip
    """`limits` (#17): the connection holds one of the login's shared IMAP slots, as a fetch's
    does, given back once it is closed; with all taken `tls_incoming` fails saying so (no
    connection opened)."""
    mailbox = ImapMailbox(endpoint)
    async with AsyncExitStack() as held:

        async def connect() -> None:
            limit = account.imap_connections_per_login
            await held.enter_async_context(
                held_slot(limits, "imap", endpoint.host, endpoint.port, account.login, limit)
            )
            await greeting(mailbox, endpoint)

        try:
            await log.run(
                Step.TLS_INCOMING, connect,
                lambda error: diagnose.connection(error, where), lambda _: secured(endpoint),
            )  # fmt: skip
            _, logged_in = await log.run(
                Step.LOGIN_INCOMING, lambda: login(account, mailbox, endpoint, tokens),
                lambda error: diagnose.login(error, where, account.login, tokens.refused),
                lambda _: f"logged in as {account.login}",
            )  # fmt: skip
            mailbox = logged_in or mailbox
            await log.run(
                Step.FOLDERS, lambda: examine_all(mailbox, folders),
                lambda error: diagnose.folder(error, where), lambda names: f"found {', '.join(names)}",
            )  # fmt: skip
        finally:
            await mailbox.close()  # before its slot is given back


async def greeting(mailbox: ImapMailbox, endpoint: Endpoint) -> None:
    try:
        await mailbox.connect()
    except FetchFailure as failure:
        await plain_on_tls(failure, endpoint)
        raise


async def login(
    account: AccountConfig, mailbox: ImapMailbox, endpoint: Endpoint, tokens: TokenSource
) -> ImapMailbox:
    """Log in on the connected mailbox; returns the logged-in one (another after a refused token)."""
    first = await credentials(account, tokens)
    require_mechanism(mailbox.capabilities, first, f"{endpoint.host}:{endpoint.port}")
    try:
        await sign_in(mailbox, first)
        return mailbox
    except TokenRejected:
        second = await credentials(account, tokens, rejected=first)
        again = ImapMailbox(endpoint)
        try:
            await again.open(second)
        except BaseException:
            await again.close()
            raise
        await mailbox.close()
        return again


def require_mechanism(capabilities: set[str], first: Credentials, where: str) -> None:
    offered = {name.upper() for name in capabilities}
    oauth = first.mechanism is Mechanism.XOAUTH2
    if (oauth and "AUTH=XOAUTH2" not in offered) or (not oauth and "LOGINDISABLED" in offered):
        raise diagnose.Diagnosed(mechanism_unavailable(where, oauth))


async def sign_in(mailbox: ImapMailbox, credentials: Credentials) -> None:
    if credentials.mechanism is Mechanism.XOAUTH2:
        await mailbox.xoauth2(credentials.login, credentials.secret)
    else:
        await mailbox.login(credentials.login, credentials.secret)


async def examine_all(mailbox: ImapMailbox, folders: list[str]) -> list[str]:
    """EXAMINE (read-only SELECT, RFC 3501 §6.3.2) each folder; FolderMissing names the first
    that cannot be opened."""
    for folder in folders:
        response = await mailbox.call(mailbox.client.examine(mailbox.wire_name(folder)), "EXAMINE")
        if response.result != "OK":
            raise diagnose.FolderMissing(folder, text(response))
    return folders
