"""POP3's incoming steps of the credentials test (T1). poplib connects, upgrades (STLS) and logs
in as one `Pop3Mailbox.connect_and_sign_in`; so `tls_incoming` is a TLS handshake of its own for
implicit TLS (the certificate checked as the session will), STLS is checked with the login, and
`folders` is the inbox, which every POP3 maildrop is (RFC 1939)."""

from contextlib import AsyncExitStack

from mailbridge.common import credential_probes as probes
from mailbridge.common.connection_slots import held_slot
from mailbridge.common.credential_checks import Step, StepLog
from mailbridge.common.endpoints import Endpoint, TransportSecurity
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.fetcher import credential_diagnosis as diagnose
from mailbridge.fetcher.adapters.credential_tls import plain_on_tls, secured
from mailbridge.fetcher.adapters.pop3 import Pop3Mailbox
from mailbridge.fetcher.credentials import credentials
from mailbridge.fetcher.model import AccountConfig


async def pop3_steps(
    account: AccountConfig, endpoint: Endpoint, log: StepLog, where: str, tokens: diagnose.RefusalMemory,
    limits: SharedLimits | None = None,
) -> None:  # fmt: skip
    """`limits` (#17): the session holds one of the login's shared slots, as a fetch's does, given
    back once it is closed; with all taken `login_incoming` fails saying so (no session opened).
    The handshake probe of `tls_incoming` logs in as nobody and is not counted."""
    host = endpoint.host
    if endpoint.security is TransportSecurity.IMPLICIT_TLS:
        await log.run(
            Step.TLS_INCOMING,
            lambda: probes.handshake(host, endpoint.port, endpoint.tls_context(), endpoint.timeout_s),
            lambda error: diagnose.connection(error, where), lambda _: secured(endpoint),
        )  # fmt: skip
    elif log.failed is None:
        later = "STLS is checked with the login" if endpoint.security is TransportSecurity.STARTTLS else None
        log.ok(Step.TLS_INCOMING, later or secured(endpoint))
    else:
        log.skip(Step.TLS_INCOMING, f"not tried: {log.failed.step} failed")
    session = Pop3Mailbox(endpoint)
    async with AsyncExitStack() as held:

        async def sign_in() -> None:
            limit = account.imap_connections_per_login
            await held.enter_async_context(
                held_slot(limits, "pop3", host, endpoint.port, account.login, limit)
            )
            try:
                await session.connect_and_sign_in(await credentials(account, tokens))
            except Exception as failure:
                await plain_on_tls(failure, endpoint)
                raise

        try:
            await log.run(
                Step.LOGIN_INCOMING, sign_in,
                lambda error: diagnose.login(error, where, account.login, tokens.refused),
                lambda _: f"logged in as {account.login}",
            )  # fmt: skip
        finally:
            await session.close()  # before its slot is given back
    if log.failed is None:
        log.ok(Step.FOLDERS, "POP3 has the inbox only")
    else:
        log.skip(Step.FOLDERS, f"not tried: {log.failed.step} failed")
