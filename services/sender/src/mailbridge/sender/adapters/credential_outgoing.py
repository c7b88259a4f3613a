"""The sender's side of the credentials test (T1, O5): connect, TLS, login and a test send, one
timed step each, over the sender's own SMTP conversation (`smtp_session`: aiosmtplib opened with
`start_tls=False` and the upgrade decided here as in `open_client`, the pool's `Authenticate` —
the password, or XOAUTH2 with a broker token — and `transact` for MAIL, RCPT and DATA).

The test message goes from the account's address to itself, carries the test's token in
`TEST_HEADER` and its subject, and `Auto-Submitted: auto-generated` (RFC 3834), so no
out-of-office answers it. It is never appended to the Sent folder and has no outbox row: it is
no mail of the person's. The fetcher's receive step deletes it from the inbox again.

The test's SMTP connection holds one of the login's connection slots shared with every sender's
pool (#17, `common.connection_slots`), from the greeting until it is closed; with all taken,
`tls_outgoing` fails saying so and no connection is opened. The `connect_outgoing` probe (a TCP
connect and close, no login) is not counted.
"""

import ssl
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid

from aiosmtplib import SMTP
from mailbridge.common import credential_probes as probes
from mailbridge.common.connection_slots import held_slot
from mailbridge.common.credential_checks import (
    OUTGOING_STEPS,
    TEST_HEADER,
    CheckRefused,
    CheckReply,
    Diagnosis,
    OutgoingCheckRequest,
    Reply,
    Step,
    StepLog,
    message_token,
)
from mailbridge.common.credential_diagnosis import (
    Diagnosed,
    RefusalMemory,
    plain_on_tls_port,
    starttls_unavailable,
)
from mailbridge.common.db.types import utcnow
from mailbridge.common.secrets import SecretBox
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.sender.adapters import credential_diagnosis as diagnose
from mailbridge.sender.adapters.accounts import Sender, senders
from mailbridge.sender.adapters.smtp_session import quit_quietly, transact, where
from mailbridge.sender.adapters.smtp_xoauth2 import SignIn
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Built, TokenSource
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

NOT_SENDING = "the account may not send (can_send off, A8): no test message sent"


class OutgoingChecks:
    """Answers the outgoing check of `credential_checks` (wired in `main`)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox, tokens: TokenSource,
        tls: ssl.SSLContext, timeout_s: float, limits: SharedLimits | None = None,
    ) -> None:  # fmt: skip
        self._sessions, self._secrets, self._tokens = sessions, secrets, tokens
        self._tls, self._timeout_s = tls, timeout_s
        self._limits = limits  # #17: the test's connection holds one of the login's shared slots

    async def check(self, request: OutgoingCheckRequest) -> Reply:
        async with self._sessions() as session:
            found = (await senders(session, self._secrets, {request.account_id})).get(request.account_id)
        if found is None:
            return CheckRefused(account_id=request.account_id, detail="the account does not exist")
        log = StepLog()
        if isinstance(found, str):  # a password that cannot be decrypted, a server that does not parse
            log.fail(Step.CONNECT_OUTGOING, Diagnosis(diagnose.Code.ERROR, found))
            log.skip_rest(OUTGOING_STEPS, f"not tried: {Step.CONNECT_OUTGOING} failed")
        else:
            await self._steps(found, log, request)
        return CheckReply(account_id=request.account_id, steps=tuple(log.reports))

    async def _steps(self, sender: Sender, log: StepLog, request: OutgoingCheckRequest) -> None:
        target, at = sender.target, where(sender.target)
        tokens = RefusalMemory(self._tokens)
        client = SMTP(
            hostname=target.host, port=target.port, timeout=self._timeout_s,
            use_tls=target.encryption == "ssl", start_tls=False, tls_context=self._tls,
        )  # fmt: skip
        address = sender.account.address

        def on_connect(error: BaseException) -> Diagnosis:
            return diagnose.connection(error, at)

        held = AsyncExitStack()

        async def connect() -> str:
            await held.enter_async_context(self._slot(target))
            return await self._secure(client, target)

        try:
            await log.run(Step.CONNECT_OUTGOING, lambda: self._reach(target), on_connect,
                          lambda found: f"{at} ({', '.join(found)}) accepts connections")  # fmt: skip
            await log.run(Step.TLS_OUTGOING, connect, on_connect, str)
            await log.run(
                Step.LOGIN_OUTGOING, lambda: self._login(client, target, tokens),
                lambda error: diagnose.login(error, at, target, tokens.refused), str,
            )  # fmt: skip
            if not request.send:
                log.skip(Step.SEND, NOT_SENDING)
                return
            built = Built(check_message(address, message_token(request.test_id)), "", address, (address,))
            await log.run(Step.SEND, lambda: _send(client, built), lambda error: diagnose.sending(error, at),
                          lambda said: f"{at} accepted the test message to {address}: {said}")  # fmt: skip
        finally:
            await quit_quietly(client)
            await held.aclose()  # the slot goes back once the connection is closed

    def _slot(self, target: SmtpTarget) -> AbstractAsyncContextManager[None]:
        """One of the login's SMTP slots, as the pool's connections hold (its key and limit)."""
        owner = str(target.account_id) if target.oauth else ""
        limit = target.limits.smtp_connections_per_login
        return held_slot(
            self._limits, "smtp", target.host, target.port, target.login, owner=owner, limit=limit
        )

    async def _reach(self, target: SmtpTarget) -> list[str]:
        found = await probes.resolve(target.host, target.port, self._timeout_s)
        await probes.reach(target.host, target.port, self._timeout_s)
        return found

    async def _secure(self, client: SMTP, target: SmtpTarget) -> str:
        """The greeting (over implicit TLS for `ssl`), and STARTTLS where `auto` finds it."""
        at = where(target)
        try:
            await client.connect()
        except Exception as error:
            plain = target.encryption != "ssl" and diagnose.timed_out(error)
            if plain and await probes.speaks_tls(target.host, target.port, self._timeout_s):
                raise Diagnosed(plain_on_tls_port(at, diagnose.SETTING)) from error
            raise
        if target.encryption == "ssl":
            return f"{at} greeted over TLS (implicit TLS), certificate trusted"
        if target.encryption == "none":
            return f"{at} greeted in plain text: the server is set to use no encryption"
        await client.ehlo()
        if client.supports_extension("starttls"):
            await client.starttls()
            await client.ehlo()  # RFC 3207 §4.2
            return f"{at} upgraded to TLS with STARTTLS, certificate trusted"
        if target.auth:
            raise Diagnosed(starttls_unavailable(at, diagnose.SETTING))
        return f"{at} offers no STARTTLS; the server sends without login, so the test goes on in clear"

    async def _login(self, client: SMTP, target: SmtpTarget, tokens: RefusalMemory) -> str:
        if not target.auth:
            return "the server is set to send without login (S5)"
        refusal = target.plaintext_auth_refusal
        if refusal is not None:
            raise Diagnosed(Diagnosis(diagnose.Code.PLAINTEXT_AUTH_REFUSED, refusal))
        await SignIn(tokens)(client, target)
        return f"logged in as {target.login}" + (" with an OAuth token" if target.oauth else "")


async def _send(client: SMTP, built: Built) -> str:
    result = await transact(client, built)
    if result.outcome is not Verdict.DONE:
        raise diagnose.Rejected(result.reply)
    return result.reply


def check_message(address: str, token: str) -> bytes:
    """From the account to itself, marked by the token and as automatic (RFC 3834)."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = address
    message["To"] = address
    message["Subject"] = f"Mailbridge credentials test {token}"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(token, domain=address.rsplit("@", 1)[-1])
    message[TEST_HEADER] = token
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "This message was sent by Mailbridge's credentials test to check sending and receiving.\n"
        "It is deleted again as soon as it has arrived; if you see it, the test could not delete it.\n"
    )
    return message.as_bytes()
