"""One SMTP connection over aiosmtplib: connect (S4: none, STARTTLS, implicit TLS), AUTH (S5), a
transaction, and every failure explained.

aiosmtplib upgrades with STARTTLS on its own whenever the server offers it (its default
`start_tls=None`) and silently goes on in clear when the server does not, after which `login()`
would send the password in clear. So every connection is opened with `start_tls=False` and the
upgrade is decided here: `auto` upgrades when offered, and with AUTH on refuses to go on
without it. Certificates are always checked with the given SSLContext.

The transaction is driven command by command (MAIL, RCPT each, DATA) rather than through
`sendmail`, to keep every recipient's reply and to know whether DATA was reached: a pooled
connection that turns out dead before DATA can be replaced without any risk of a second copy.
A connection lost during or after DATA is only reported (temporary): the server may have taken
the mail, so a retry can deliver it twice, as with any SMTP client.

A hostile or broken server cannot hold a mail for long or grow memory (#10): aiosmtplib waits
at most `timeout` for each whole reply (a trickle does not extend it) and drops a reply of more
than 32 KiB ("Response too long"). Such an answer, or one that does not start with a reply code,
is not a reply at all (`NotAReply`): the connection is closed, never reset and reused, and the
failure is temporary with the server and the step named.
"""

import ssl
from collections.abc import Awaitable, Callable

from aiosmtplib import (
    SMTP,
    SMTPAuthenticationError,
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPStatus,
    SMTPTimeoutError,
)
from mailbridge.common.addresses import is_plain_address
from mailbridge.common.certificates import certificate_problem, verification_error
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Built
from mailbridge.sender.smtp_replies import (
    RecipientReply,
    SmtpResult,
    all_refused,
    failed,
    network_reason,
    replied,
)

# Logs in on a connected (and, where wanted, encrypted) client: `password_login`, or
# `smtp_xoauth2.SignIn`, which takes OAuth targets to AUTH XOAUTH2 with a broker token.
Authenticate = Callable[[SMTP, SmtpTarget], Awaitable[None]]


class SmtpFailure(Exception):
    """A send that cannot go on, with its classification and a reason a person understands."""

    def __init__(self, result: SmtpResult) -> None:
        super().__init__(result.reply)
        self.result = result


class DeadBeforeData(Exception):
    """The connection was lost before DATA: nothing was handed over, a new connection may retry."""


class NotAReply(Exception):
    """The server answered `step` with something that is not an SMTP reply; the client is closed."""

    def __init__(self, step: str, error: SMTPResponseException) -> None:
        super().__init__(error.message if error.code < 0 else f"{error.code} {error.message}")
        self.step = step


def is_reply(error: SMTPResponseException) -> bool:
    """A reply code of RFC 5321 §4.2 (2yz to 5yz); aiosmtplib says -1 for a malformed or
    over-long answer, and a server may say anything else."""
    return 200 <= error.code < 600


def _not_a_reply(client: SMTP, step: str, error: SMTPResponseException) -> None:
    """Raise NotAReply, closing the client, when `error` is not a reply: the conversation is lost."""
    if not is_reply(error):
        client.close()
        raise NotAReply(step, error) from error


async def password_login(client: SMTP, target: SmtpTarget) -> None:
    if target.password is None:
        raise SmtpFailure(failed(Verdict.GIVE_UP, f"no password stored for {target.login}"))
    await client.login(target.login, target.password)


def where(target: SmtpTarget) -> str:
    return f"[{target.host}]:{target.port}" if ":" in target.host else f"{target.host}:{target.port}"


async def open_client(
    target: SmtpTarget, tls: ssl.SSLContext, timeout_s: float, authenticate: Authenticate = password_login,
    local_hostname: str | None = None,
) -> SMTP:  # fmt: skip
    """A connected, encrypted as configured and logged-in client; SmtpFailure otherwise."""
    if target.encryption not in ("none", "auto", "ssl"):
        raise SmtpFailure(failed(Verdict.GIVE_UP, f"unknown SMTP encryption {target.encryption!r}"))
    refusal = target.plaintext_auth_refusal
    if refusal is not None:  # the API refuses such a server; a row that has it anyway never logs in
        raise SmtpFailure(failed(Verdict.GIVE_UP, f"refusing to log in at {where(target)}: {refusal}"))
    client = SMTP(
        hostname=target.host, port=target.port, timeout=timeout_s, use_tls=target.encryption == "ssl",
        start_tls=False, tls_context=tls, local_hostname=local_hostname,
    )  # fmt: skip
    try:
        await client.connect()
        if target.encryption == "auto":
            await client.ehlo()
            if client.supports_extension("starttls"):
                await client.starttls()
                await client.ehlo()  # RFC 3207 §4.2: what was said before TLS no longer counts
            elif target.auth:
                raise SmtpFailure(failed(
                    Verdict.GIVE_UP,
                    f"{where(target)} does not offer STARTTLS; refusing to send the password in clear",
                ))  # fmt: skip
        if target.auth:
            await authenticate(client, target)
    except BaseException as error:
        client.close()  # cancelled too: a half-done greeting, upgrade or login is never reused
        if isinstance(error, Exception) and not isinstance(error, SmtpFailure):
            raise SmtpFailure(explain(error, target, "connect")) from error
        raise
    return client


async def transact(client: SMTP, built: Built) -> SmtpResult:
    """One mail over an open client. DeadBeforeData when the connection was gone before DATA."""
    step = "MAIL"
    try:
        await _mail(client, built.envelope_from, _size_option(client, built.raw))
        step = "RCPT"
        replies = [await _rcpt(client, address) for address in built.envelope_to]
    except SMTPServerDisconnected as error:
        raise DeadBeforeData(str(error)) from error
    except SMTPResponseException as error:
        _not_a_reply(client, step, error)
        await _reset(client)
        return replied(error.code, error.message, f"sender {built.envelope_from} refused")
    if not any(reply.outcome is Verdict.DONE for reply in replies):
        await _reset(client)
        return all_refused(replies)
    try:
        response = await _data(client, built.raw)
    except SMTPResponseException as error:
        _not_a_reply(client, "DATA", error)
        await _reset(client)
        refusal = replied(error.code, error.message, "message refused")
        return SmtpResult(refusal.outcome, refusal.reply, tuple(replies))
    return SmtpResult(Verdict.DONE, str(response), tuple(replies))


async def _data(client: SMTP, raw: bytes) -> SMTPResponse:
    """DATA. Bytes that are CRLF throughout (what `mime` builds) are dot-stuffed here with one
    `bytes.replace` and written through aiosmtplib's protocol; aiosmtplib's own `data()` runs two
    regular-expression passes over the whole message, the sender's largest cost per mail. Other
    bytes (an old row, a bare LF) take aiosmtplib's way, which repairs the line ends."""
    protocol = client.protocol
    if protocol is None or raw.count(b"\n") != raw.count(b"\r\n") or raw.count(b"\r") != raw.count(b"\r\n"):
        return await client.data(raw)
    # RFC 5321 §4.5.2: a line that starts with "." gets one more; the data ends with CRLF "." CRLF.
    stuffed = (b"." if raw.startswith(b".") else b"") + raw.replace(b"\r\n.", b"\r\n..")
    stuffed += b".\r\n" if stuffed.endswith(b"\r\n") or not stuffed else b"\r\n.\r\n"
    try:
        protocol.write(b"DATA\r\n")
        start = await protocol.read_response(timeout=client.timeout)
        if start.code != SMTPStatus.start_input:
            raise SMTPDataError(start.code, start.message)
        protocol.write(stuffed)
        response = await protocol.read_response(timeout=client.timeout)
    except (SMTPServerDisconnected, SMTPTimeoutError):
        client.close()  # as aiosmtplib's data() does: the connection's state is unknown
        raise
    if response.code != SMTPStatus.completed:
        raise SMTPDataError(response.code, response.message)
    return response


def explain(error: Exception, target: SmtpTarget, phase: str) -> SmtpResult:
    """Every aiosmtplib (and socket) failure as a classified result with a readable reason."""
    at = where(target)
    if isinstance(error, SmtpFailure):
        return error.result
    certificate = verification_error(error)
    if certificate is not None:  # #17: permanent, with the reason every service gives
        return failed(Verdict.GIVE_UP, certificate_problem(certificate, at).reason)
    if isinstance(error, SMTPResponseException) and not is_reply(error):  # while connecting
        error = NotAReply(phase, error)
    if isinstance(error, NotAReply):
        garbage = f"{at} sent something that is not an SMTP reply during {error.step}: {error}"
        return failed(Verdict.RETRY, garbage)
    if isinstance(error, SMTPAuthenticationError):
        return replied(error.code, error.message, f"login as {target.login} at {at} rejected")
    if isinstance(error, SMTPRecipientsRefused):  # only from sendmail-style calls; kept for completeness
        return all_refused(RecipientReply(r.recipient, r.code, r.message) for r in error.recipients)
    if isinstance(error, SMTPResponseException):
        return replied(error.code, error.message, f"{at} answered during {phase}")
    if isinstance(error, SMTPTimeoutError):
        return failed(Verdict.RETRY, f"timed out during {phase} with {at}: {error}")
    if isinstance(error, SMTPServerDisconnected) and error.__cause__ is None:
        return failed(Verdict.RETRY, f"{at} closed the connection during {phase}: {error}")
    if isinstance(error, OSError):  # aiosmtplib's connect errors wrap the socket's (DNS, TLS, refused)
        return failed(Verdict.RETRY, network_reason(error, at))
    if isinstance(error, ValueError):  # an address aiosmtplib cannot put on the wire (non-ASCII, quoting)
        return failed(Verdict.GIVE_UP, f"cannot be sent to {at}: {error}")
    if isinstance(error, SMTPException):  # e.g. AUTH not offered: only a configuration change helps
        return failed(Verdict.GIVE_UP, f"{at} during {phase}: {error}")
    return failed(Verdict.RETRY, f"{phase} with {at} failed: {type(error).__name__}: {error}")


async def quit_quietly(client: SMTP) -> None:
    if client.is_connected:
        try:
            await client.quit()
        except (SMTPException, OSError, TimeoutError):
            client.close()


async def _mail(client: SMTP, address: str, options: list[str]) -> None:
    """MAIL FROM, written straight through `execute_command` where `_as_is` allows."""
    quoted = _as_is(client, address)
    if quoted is None:
        await client.mail(address, options=options)
        return
    response = await client.execute_command(b"MAIL", b"FROM:" + quoted, *[o.encode("ascii") for o in options])
    if response.code != SMTPStatus.completed:
        raise SMTPSenderRefused(response.code, response.message, address)


async def _rcpt(client: SMTP, address: str) -> RecipientReply:
    """RCPT TO, the same way as `_mail`; a refusal is a reply, not an exception."""
    quoted = _as_is(client, address)
    if quoted is None:
        try:
            response = await client.rcpt(address)
        except SMTPRecipientRefused as refused:
            return RecipientReply(address, refused.code, refused.message)
    else:
        response = await client.execute_command(b"RCPT", b"TO:" + quoted)
    return RecipientReply(address, response.code, response.message)


def _as_is(client: SMTP, address: str) -> bytes | None:
    """`<address>` for a plain address on a greeted connection: what aiosmtplib's `mail()` and
    `rcpt()` would write after parsing it again with `parseaddr` (`is_plain_address`: the same
    result). None: leave it to them (they greet first and quote what needs it)."""
    if client.is_ehlo_or_helo_needed or not is_plain_address(address):
        return None
    return b"<" + address.encode("ascii") + b">"


async def _reset(client: SMTP) -> None:
    """RSET after a refusal, so the connection can carry the next mail; a dead one is dropped."""
    if client.is_connected:
        try:
            await client.rset()
        except (SMTPException, OSError, TimeoutError):
            client.close()


def _size_option(client: SMTP, raw: bytes) -> list[str]:
    # RFC 1870: a server that knows the size can refuse an oversized mail before the data.
    return [f"SIZE={len(raw)}"] if client.supports_extension("size") else []
