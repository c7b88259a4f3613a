"""The fetcher's part of the credentials test's diagnoses (T1): a `FetchFailure` of the IMAP or
POP3 adapter (with the library's error as its cause) → a `Diagnosis`. Pure. Here: how the fetcher's
failures say what happened (`READING`) and its own steps (the folder, the receive); the order in
which a connection or login failure is read, and the network, TLS and certificate rules, are
`common.credential_diagnosis`'s.
"""

from mailbridge.common import credential_diagnosis as diagnosis
from mailbridge.common.credential_checks import Code, Diagnosis
from mailbridge.common.credential_diagnosis import Diagnosed, ErrorReading, RefusalMemory
from mailbridge.common.oauth_requests import AccessTokenRefused
from mailbridge.fetcher.failures import FetchFailure, Kind, TokenRejected

__all__ = [
    "Diagnosed",
    "Diagnosis",
    "FolderMissing",
    "NotReceived",
    "RefusalMemory",
    "connection",
    "folder",
    "login",
    "receiving",
]  # fmt: skip
SETTING = "mail server's incoming TLS"
_NO_STARTTLS = ("does not offer STARTTLS", "does not offer STLS")


class FolderMissing(Exception):
    def __init__(self, name: str, said: str) -> None:
        super().__init__(f"folder {name!r} cannot be opened: {said}")
        self.name = name


class NotReceived(Exception):
    def __init__(self, folder: str, seconds: float) -> None:
        super().__init__(f"not in {folder} after {seconds:g} s")
        self.folder, self.seconds = folder, seconds


def reason(error: BaseException) -> str:
    return error.reason if isinstance(error, FetchFailure) else f"{type(error).__name__}: {error}"


def timed_out(error: BaseException) -> bool:
    """A step the adapter gave up for want of an answer (its deadline, or poplib's watchdog)."""
    said = reason(error)
    return any(
        sign in said for sign in ("no answer to", "did not answer", "too slow during", "stopped sending")
    )


def _login_refused(error: BaseException) -> str | None:
    if isinstance(error, TokenRejected):
        return error.reason
    if isinstance(error, FetchFailure) and error.kind is Kind.PERMANENT and " rejected" in error.reason:
        return error.reason
    return None


READING = ErrorReading(
    setting=SETTING,
    said=reason,
    starttls_refused=lambda error: any(sign in reason(error) for sign in _NO_STARTTLS),
    timed_out=timed_out,
    broker_refused=lambda error: isinstance(error, FetchFailure) and error.kind is Kind.NEEDS_CONNECT,
    login_refused=_login_refused,
    no_password=lambda error: (
        isinstance(error, FetchFailure) and error.kind is Kind.PERMANENT and "has no password" in error.reason
    ),
)


def connection(error: BaseException, where: str) -> Diagnosis:
    """Resolving, connecting, the greeting and TLS (`common.credential_diagnosis`'s rules)."""
    return diagnosis.connection_failure(READING, error, where)


def login(error: BaseException, where: str, user: str, refused: AccessTokenRefused | None) -> Diagnosis:
    """The login: a refusal of the password or token, the broker's refusal, or the connection."""
    return diagnosis.login_failure(READING, error, where, user, False, refused)


def folder(error: BaseException, where: str) -> Diagnosis:
    if isinstance(error, FolderMissing):
        return Diagnosis(
            Code.FOLDER_MISSING,
            f"{where}: {error}: create the folder on the server, or correct the folder name in the "
            "account's or server's settings (A11, S10)",
        )
    return connection(error, where)


def receiving(error: BaseException, where: str) -> Diagnosis:
    if isinstance(error, NotReceived):
        return Diagnosis(
            Code.NOT_RECEIVED,
            f"the test message sent to the account's own address was not in {error.folder} at {where} "
            f"within {error.seconds:g} s: check that the outgoing and incoming servers serve the same "
            "mailbox and the address (A5) is this mailbox's, and look in the spam folder; a slow "
            "server may need a longer receive_timeout_s",
        )
    return connection(error, where)
