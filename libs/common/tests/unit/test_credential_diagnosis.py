"""The credentials test's shared diagnoses (T1) as pure functions: library errors, wrapped as the
services wrap them, and the broker's refusals → a code and a message that says what to change;
and StepLog's order of steps (a failure skips the rest, naming it)."""

import socket
import ssl
import uuid

import pytest
from mailbridge.common import credential_diagnosis as diagnosis
from mailbridge.common.credential_checks import Code, Diagnosis, Status, Step, StepLog
from mailbridge.common.oauth_requests import AccessTokenRefused, Refusal

WHERE = "mail.example.org:993"


def wrapped(error: BaseException) -> Exception:
    """As an adapter raises it: its own failure `from` the library's error."""
    try:
        try:
            raise error
        except BaseException as inner:
            raise RuntimeError("cannot connect to mail.example.org:993") from inner
    except RuntimeError as outer:
        return outer


def certificate_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(
        1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}"
    )
    error.verify_code, error.verify_message = code, message
    return error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), Code.UNKNOWN_HOST),
        (ConnectionRefusedError(111, "Connection refused"), Code.CONNECTION_REFUSED),
        (TimeoutError(), Code.TIMEOUT),
        (certificate_error(10, "certificate has expired"), Code.CERTIFICATE_EXPIRED),
        (certificate_error(9, "certificate is not yet valid"), Code.CERTIFICATE_EXPIRED),
        (
            certificate_error(62, "Hostname mismatch, certificate is not valid for 'x'."),
            Code.HOSTNAME_MISMATCH,
        ),
        (certificate_error(64, "IP address mismatch"), Code.HOSTNAME_MISMATCH),
        (certificate_error(20, "unable to get local issuer certificate"), Code.CERTIFICATE_UNTRUSTED),
        (certificate_error(18, "self-signed certificate"), Code.CERTIFICATE_UNTRUSTED),
        (
            ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"),
            Code.TLS_ON_PLAIN_PORT,
        ),
        (ssl.SSLError(1, "[SSL] record layer failure (_ssl.c:1000)"), Code.TLS_ON_PLAIN_PORT),
    ],
)
def test_network_errors_are_found_along_the_chain_of_causes(error: BaseException, code: Code) -> None:
    found = diagnosis.network(wrapped(error), WHERE, "incoming TLS")
    assert found is not None
    assert found.code is code
    assert WHERE.split(":")[0] in found.message


def test_an_error_without_a_network_cause_is_not_diagnosed_here() -> None:
    assert diagnosis.network(wrapped(ValueError("odd")), WHERE, "incoming TLS") is None


def test_messages_say_what_to_change() -> None:
    assert "host name" in diagnosis.unknown_host("x.invalid").message
    assert "port" in diagnosis.connection_refused(WHERE).message
    assert "STARTTLS" in diagnosis.tls_on_plain_port(WHERE, "incoming TLS").message
    assert "implicit TLS" in diagnosis.plain_on_tls_port(WHERE, "incoming TLS").message
    assert "MAILBRIDGE_EXTRA_CA_FILE" in diagnosis.certificate(certificate_error(20, "x"), WHERE).message
    assert "XOAUTH2" in diagnosis.mechanism_unavailable(WHERE, oauth=True).message
    assert "password" in diagnosis.auth_failed(WHERE, "ann", "NO [AUTHENTICATIONFAILED]").message


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (Refusal.NOT_CONNECTED, Code.OAUTH_NOT_CONNECTED),
        (Refusal.NEEDS_RECONNECT, Code.OAUTH_NEEDS_RECONNECT),
        (Refusal.UNAVAILABLE, Code.ERROR),
    ],
)
def test_broker_refusals(refusal: Refusal, code: Code) -> None:
    refused = AccessTokenRefused(account_id=uuid.uuid4(), error=refusal, detail="the broker's words")
    found = diagnosis.broker_refusal(refused)
    assert found.code is code
    assert "the broker's words" in found.message


async def test_a_step_log_times_each_step_and_skips_the_rest_after_a_failure() -> None:
    ticks = iter([0.0, 0.25, 1.0, 3.5])
    log = StepLog(clock=lambda: next(ticks))

    async def fine() -> str:
        return "fine"

    async def broken() -> str:
        raise TimeoutError

    def diagnose(error: BaseException) -> Diagnosis:
        return diagnosis.timeout(WHERE, "the greeting")

    assert await log.run(Step.RESOLVE, fine, diagnose, str) == (True, "fine")
    assert await log.run(Step.CONNECT_INCOMING, broken, diagnose, str) == (False, None)
    assert await log.run(Step.TLS_INCOMING, fine, diagnose, str) == (False, None)
    ok, failed, skipped = log.reports
    assert (ok.status, ok.duration_ms, ok.message) == (Status.OK, 250, "fine")
    assert (failed.status, failed.code, failed.duration_ms) == (Status.FAILED, Code.TIMEOUT, 2500)
    assert skipped.status is Status.SKIPPED
    assert "connect_incoming" in skipped.message


class Said(Exception):
    """A service's own failure in the shape the reading below knows: `kind` says what it was."""

    def __init__(self, kind: str, words: str = "the server's words") -> None:
        super().__init__(words)
        self.kind = kind


READING = diagnosis.ErrorReading(
    setting="the test's TLS setting",
    said=str,
    starttls_refused=lambda error: isinstance(error, Said) and error.kind == "no starttls",
    timed_out=lambda error: isinstance(error, Said) and error.kind == "deadline",
    broker_refused=lambda error: isinstance(error, Said) and error.kind == "broker",
    login_refused=lambda error: str(error) if isinstance(error, Said) and error.kind == "refused" else None,
    no_password=lambda error: isinstance(error, Said) and error.kind == "no password",
    no_mechanism=lambda error: isinstance(error, Said) and error.kind == "no mechanism",
)
NOT_CONNECTED = AccessTokenRefused(account_id=uuid.uuid4(), error=Refusal.NOT_CONNECTED, detail="never")


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (
            diagnosis.Diagnosed(Diagnosis(Code.FOLDER_MISSING, "found before")),
            Code.FOLDER_MISSING,
            "found before",
        ),
        (wrapped(ConnectionRefusedError(111, "Connection refused")), Code.CONNECTION_REFUSED, WHERE),
        (Said("no starttls"), Code.STARTTLS_UNAVAILABLE, "the test's TLS setting"),
        (Said("deadline", "no answer to LOGIN"), Code.TIMEOUT, "no answer to LOGIN"),
        (Said("anything else"), Code.ERROR, f"{WHERE}: the server's words"),
    ],
)
def test_a_connection_failure_is_read_in_the_shared_order(
    error: BaseException, code: Code, words: str
) -> None:
    found = diagnosis.connection_failure(READING, error, WHERE)
    assert found.code is code
    assert words in found.message


@pytest.mark.parametrize(
    ("error", "refused", "code", "words"),
    [
        (Said("broker"), NOT_CONNECTED, Code.OAUTH_NOT_CONNECTED, "never"),
        (Said("broker"), None, Code.ERROR, "the server's words"),  # no refusal remembered
        (Said("refused", "535 no"), NOT_CONNECTED, Code.AUTH_FAILED, "as someone (535 no)"),
        (Said("no password"), None, Code.AUTH_FAILED, "no password stored"),
        (Said("no mechanism"), None, Code.MECHANISM_UNAVAILABLE, "XOAUTH2"),  # an OAuth account
        (Said("no starttls"), None, Code.STARTTLS_UNAVAILABLE, "STARTTLS"),
    ],
)
def test_a_login_failure_is_read_in_the_shared_order(
    error: BaseException, refused: AccessTokenRefused | None, code: Code, words: str
) -> None:
    found = diagnosis.login_failure(READING, error, WHERE, "someone", True, refused)
    assert found.code is code
    assert words in found.message
