"""The sender's part of the credentials test's diagnoses (T1): aiosmtplib's errors and the
sender's `SmtpFailure` → a `Diagnosis`. Pure. Here: how they say what happened (`READING`) and
the sender's own step (the test message refused); the order in which a connection or login failure
is read, and the network, TLS and certificate rules, are `common.credential_diagnosis`'s, found
along the chain of causes (aiosmtplib raises its connect errors `from` the socket's or ssl's)."""

from aiosmtplib import SMTPAuthenticationError, SMTPException, SMTPResponseException
from mailbridge.common import credential_diagnosis as diagnosis
from mailbridge.common.certificates import root_causes
from mailbridge.common.credential_checks import Code, Diagnosis
from mailbridge.common.credential_diagnosis import ErrorReading
from mailbridge.common.oauth_requests import AccessTokenRefused
from mailbridge.common.printable import printable
from mailbridge.sender.adapters.smtp_session import SmtpFailure
from mailbridge.sender.outgoing import SmtpTarget

__all__ = ["SETTING", "Code", "Rejected", "connection", "login", "sending", "timed_out"]
SETTING = "mail server's SMTP encryption"
_NO_MECHANISM = (
    "no suitable authentication method", "auth extension is not supported", "does not offer auth",
)  # fmt: skip


class Rejected(Exception):
    """The server refused the test message (MAIL, RCPT or DATA); the reply says why."""


def timed_out(error: BaseException) -> bool:
    return any(isinstance(cause, TimeoutError) for cause in root_causes(error))


def _said(error: BaseException) -> str:
    if isinstance(error, SMTPResponseException):
        return printable(f"{error.code} {error.message}")
    return printable(str(error) or type(error).__name__)


def _login_refused(error: BaseException) -> str | None:
    if isinstance(error, SMTPAuthenticationError):
        return _said(error)
    if isinstance(error, SmtpFailure) and "rejected" in error.result.reply:
        return error.result.reply
    return None


READING = ErrorReading(
    setting=SETTING,
    said=_said,
    starttls_refused=lambda error: isinstance(error, SMTPException) and "starttls" in str(error).lower(),
    timed_out=timed_out,
    broker_refused=lambda error: isinstance(error, SmtpFailure),
    login_refused=_login_refused,
    no_password=lambda error: isinstance(error, SmtpFailure) and "no password" in error.result.reply,
    no_mechanism=lambda error: (
        isinstance(error, SMTPException) and any(sign in str(error).lower() for sign in _NO_MECHANISM)
    ),
)


def connection(error: BaseException, where: str) -> Diagnosis:
    """Resolving, connecting, the greeting and TLS (`common.credential_diagnosis`'s rules)."""
    return diagnosis.connection_failure(READING, error, where)


def login(
    error: BaseException, where: str, target: SmtpTarget, refused: AccessTokenRefused | None
) -> Diagnosis:
    """AUTH: the password or token refused, no mechanism to log in with, the broker's refusal."""
    return diagnosis.login_failure(READING, error, where, target.login, target.oauth, refused)


def sending(error: BaseException, where: str) -> Diagnosis:
    if isinstance(error, Rejected):
        return Diagnosis(
            Code.SEND_REJECTED,
            f"{where} refused the test message from the account's address to itself ({error}): check "
            "that the account's address (A5) is one the login may send as",
        )
    return connection(error, where)
