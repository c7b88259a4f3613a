"""#17: a certificate that fails verification gets one verdict (permanent) and one reason, found
anywhere in the chain of causes, the same for the fetcher, the sender and the credentials test."""

import ssl

import pytest
from mailbridge.common.certificates import certificate_problem, certificate_reason, verification_error
from mailbridge.common.credential_checks import Code
from mailbridge.common.credential_diagnosis import certificate


def _failed(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_code, error.verify_message = code, message
    return error


@pytest.mark.parametrize(
    ("code", "message", "expected", "words"),
    [
        (10, "certificate has expired", Code.CERTIFICATE_EXPIRED, "outside its validity period"),
        (9, "certificate is not yet valid", Code.CERTIFICATE_EXPIRED, "outside its validity period"),
        (62, "Hostname mismatch", Code.HOSTNAME_MISMATCH, "issued for another name"),
        (64, "IP address mismatch", Code.HOSTNAME_MISMATCH, "issued for another name"),
        (
            19,
            "self-signed certificate in certificate chain",
            Code.CERTIFICATE_UNTRUSTED,
            "MAILBRIDGE_EXTRA_CA_FILE",
        ),
    ],
)
def test_one_verdict_and_reason_per_fault(code: int, message: str, expected: Code, words: str) -> None:
    found = certificate_problem(_failed(code, message), "mail.example.org:993")
    assert (found.code, found.permanent) == (expected, True)
    assert found.reason.startswith("the TLS certificate of mail.example.org:993 ")
    assert words in found.reason
    assert f"({message})" in found.reason
    diagnosed = certificate(_failed(code, message), "mail.example.org:993")
    assert (diagnosed.code, diagnosed.message) == (found.code, found.reason), "the credentials test's words"


def test_found_along_the_chain_of_causes() -> None:
    cause = _failed(10, "certificate has expired")
    wrapped = ConnectionError("Error connecting to mail.example.org on port 465")
    wrapped.__cause__ = cause
    outer = OSError("connect failed")
    outer.__context__ = wrapped
    assert verification_error(outer) is cause
    assert (
        certificate_reason(outer, "mail.example.org:465")
        == certificate_problem(cause, "mail.example.org:465").reason
    )
    assert verification_error(ssl.SSLError(1, "wrong version number")) is None
    assert certificate_reason(TimeoutError(), "x:1") is None


def test_a_verification_error_made_by_hand_still_reads() -> None:
    bare = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert certificate_problem(bare, "x:1").code is Code.CERTIFICATE_UNTRUSTED
