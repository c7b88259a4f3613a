"""Diagnoses of the credentials test (T1) that fetcher and sender share, as pure functions: a
network, TLS or certificate error, a deadline, a broker's refusal → a `Diagnosis` with a code and a
message that says what failed and what to change.

The services' adapters wrap library errors in their own failures (`raise … from error`), so the
original error is looked for along the chain of causes (`root_causes`). Certificate errors get the
verdict and reason a fetch or a send gets (`common.certificates`); a TLS handshake that meets a
plain-text greeting fails with a record-layer error (WRONG_VERSION_NUMBER and kin), which is
`tls_on_plain_port`. The
opposite, a plain-text client on a TLS port, only waits: the server never speaks first, so that is
found by a probe after the deadline (`credential_probes.speaks_tls`), not here.

The order in which a failed connection or login is read is the same in both services
(`connection_failure`, `login_failure`); how a service's own failures say what happened is its
`ErrorReading`.
"""

import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailbridge.common.certificates import certificate_problem, root_causes
from mailbridge.common.credential_checks import Code, Diagnosis
from mailbridge.common.oauth_requests import AccessTokenRefused, Refusal, TokenReply

_PLAIN_TEXT_SIGNS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
                     "UNKNOWN_PROTOCOL", "record layer failure", "wrong version number")  # fmt: skip


class Diagnosed(Exception):
    """A step's failure already diagnosed where it was found (a probe, a capability check)."""

    def __init__(self, found: Diagnosis) -> None:
        super().__init__(found.message)
        self.found = found


def network(error: BaseException, where: str, security_hint: str) -> Diagnosis | None:
    """A DNS, TCP, TLS or certificate failure anywhere in `error`'s chain, else None.
    `security_hint` names the setting a person changes for a TLS mix-up (e.g. "incoming TLS")."""
    for cause in root_causes(error):
        if isinstance(cause, socket.gaierror):
            return unknown_host(where.rsplit(":", 1)[0])
        if isinstance(cause, ssl.SSLCertVerificationError):
            return certificate(cause, where)
        if isinstance(cause, ssl.SSLError) and any(sign in str(cause) for sign in _PLAIN_TEXT_SIGNS):
            return tls_on_plain_port(where, security_hint)
        if isinstance(cause, ConnectionRefusedError):
            return connection_refused(where)
        if isinstance(cause, TimeoutError):
            return timeout(where, "the server")
    return None


def unknown_host(host: str) -> Diagnosis:
    return Diagnosis(
        Code.UNKNOWN_HOST,
        f"the host name {host} does not resolve (DNS): check the server's host name for typing errors",
    )


def connection_refused(where: str) -> Diagnosis:
    return Diagnosis(
        Code.CONNECTION_REFUSED,
        f"{where} refused the connection: nothing listens on that port; check the port number "
        "(and that the server is running and no firewall rejects it)",
    )


def timeout(where: str, doing: str, seconds: float | None = None) -> Diagnosis:
    within = f" within {seconds:g} s" if seconds is not None else ""
    return Diagnosis(
        Code.TIMEOUT,
        f"no answer from {where} ({doing}){within}: check the host and port, and that no firewall drops "
        "the connection",
    )


def tls_on_plain_port(where: str, setting: str) -> Diagnosis:
    return Diagnosis(
        Code.TLS_ON_PLAIN_PORT,
        f"{where} answered the TLS handshake in plain text: the port does not speak implicit TLS; "
        f"use STARTTLS (or the server's TLS port) in the {setting} setting",
    )


def plain_on_tls_port(where: str, setting: str) -> Diagnosis:
    return Diagnosis(
        Code.PLAIN_ON_TLS_PORT,
        f"{where} expects a TLS handshake first (implicit TLS) and sent no greeting: turn on implicit "
        f"TLS (SSL/TLS) in the {setting} setting, or use the server's plain/STARTTLS port",
    )


def certificate(error: ssl.SSLCertVerificationError, where: str) -> Diagnosis:
    """The same verdict and reason as a fetch's or a send's (`common.certificates`, #17)."""
    found = certificate_problem(error, where)
    return Diagnosis(found.code, found.reason)


def broker_refusal(refused: AccessTokenRefused) -> Diagnosis:
    """The OAuth broker's refusal of a token (O4)."""
    if refused.error is Refusal.NOT_CONNECTED:
        return Diagnosis(
            Code.OAUTH_NOT_CONNECTED,
            f"the account is not connected at its OAuth provider yet: use Connect (O4) ({refused.detail})",
        )
    if refused.error is Refusal.NEEDS_RECONNECT:
        return Diagnosis(
            Code.OAUTH_NEEDS_RECONNECT,
            f"the account's OAuth grant is no longer valid: connect it again (O4) ({refused.detail})",
        )
    return Diagnosis(
        Code.ERROR, f"no OAuth access token ({refused.error}): {refused.detail}; try again later"
    )


def mechanism_unavailable(where: str, oauth: bool) -> Diagnosis:
    wanted = "XOAUTH2 (OAuth)" if oauth else "a password login (AUTH PLAIN/LOGIN, IMAP LOGIN)"
    return Diagnosis(
        Code.MECHANISM_UNAVAILABLE,
        f"{where} offers no login by {wanted}: check that the account's server type and the "
        "server's authentication settings match (for Microsoft 365: IMAP/POP/SMTP AUTH enabled, O2)",
    )


def starttls_unavailable(where: str, setting: str) -> Diagnosis:
    return Diagnosis(
        Code.STARTTLS_UNAVAILABLE,
        f"{where} does not offer STARTTLS, so the password would travel in clear: use the server's "
        f"implicit TLS port, or turn TLS off in the {setting} setting only on a trusted network",
    )


def auth_failed(where: str, login: str, said: str) -> Diagnosis:
    return Diagnosis(
        Code.AUTH_FAILED,
        f"{where} refused the login as {login} ({said}): check the login name and the password "
        "(or connect the OAuth account again)",
    )


class TokenSource(Protocol):
    """The fetcher's and sender's port to the OAuth broker (their `ports.TokenSource`)."""

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply: ...


class RefusalMemory:
    """A TokenSource that remembers the broker's last refusal: the services turn a refusal into
    their own failure, the diagnosis needs to know which refusal it was (not connected, or gone)."""

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens
        self.refused: AccessTokenRefused | None = None

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        reply = await self._tokens.access_token(account_id, rejected)
        self.refused = reply if isinstance(reply, AccessTokenRefused) else None
        return reply


NO_PASSWORD = Diagnosis(Code.AUTH_FAILED, "the account has no password stored: set one (A3)")


def _never(error: BaseException) -> bool:
    return False


@dataclass(frozen=True)
class ErrorReading:
    """How one service's adapters say what went wrong (the fetcher's `FetchFailure`, the sender's
    `SmtpFailure` and aiosmtplib's errors); the rules that act on it are shared below."""

    setting: str  # the setting a person changes for a TLS mix-up, e.g. "mail server's incoming TLS"
    said: Callable[[BaseException], str]  # the server's or the library's words, printable
    starttls_refused: Callable[[BaseException], bool]  # the server does not offer STARTTLS/STLS
    timed_out: Callable[[BaseException], bool]  # the adapter gave up for want of an answer
    broker_refused: Callable[[BaseException], bool]  # the failure raised for the broker's refusal
    login_refused: Callable[[BaseException], str | None]  # the server's words refusing the login
    no_password: Callable[[BaseException], bool]  # the account had no password to log in with
    no_mechanism: Callable[[BaseException], bool] = _never  # no login mechanism the account can use


def connection_failure(reading: ErrorReading, error: BaseException, where: str) -> Diagnosis:
    """Resolving, connecting, the greeting and TLS: a failure already diagnosed, the network and
    certificate rules, no STARTTLS, a deadline, else the words as they are."""
    if isinstance(error, Diagnosed):
        return error.found
    found = network(error, where, reading.setting)
    if found is not None:
        return found
    if reading.starttls_refused(error):
        return starttls_unavailable(where, reading.setting)
    said = reading.said(error)
    if reading.timed_out(error):
        return timeout(where, said)
    return Diagnosis(Code.ERROR, f"{where}: {said}")


def login_failure(
    reading: ErrorReading,
    error: BaseException,
    where: str,
    login: str,
    oauth: bool,
    refused: AccessTokenRefused | None,
) -> Diagnosis:
    """The login: the broker's refusal (O4), the password or token refused, no password stored
    (A3), no mechanism for this kind of account, else what the connection says."""
    if refused is not None and reading.broker_refused(error):
        return broker_refusal(refused)
    words = reading.login_refused(error)
    if words is not None:
        return auth_failed(where, login, words)
    if reading.no_password(error):
        return NO_PASSWORD
    if reading.no_mechanism(error):
        return mechanism_unavailable(where, oauth)
    return connection_failure(reading, error, where)
