"""The sender's credentials-test diagnoses (T1), pure: aiosmtplib's errors → codes."""

import uuid

from aiosmtplib import SMTPAuthenticationError, SMTPConnectError, SMTPConnectTimeoutError, SMTPException
from mailbridge.common.credential_checks import Code
from mailbridge.common.oauth_requests import AccessTokenRefused, Refusal
from mailbridge.sender.adapters import credential_diagnosis as diagnose
from mailbridge.sender.adapters.smtp_session import SmtpFailure
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.smtp_replies import failed

WHERE = "smtp.example.org:587"
TARGET = SmtpTarget("smtp.example.org", 587, "auto", True, "ann", "secret")


def test_535_is_auth_failed_and_no_auth_offered_is_mechanism_unavailable() -> None:
    refused = SMTPAuthenticationError(535, "5.7.8 Error: authentication failed")
    assert diagnose.login(refused, WHERE, TARGET, None).code is Code.AUTH_FAILED
    no_auth = SMTPException("The SMTP AUTH extension is not supported by this server.")
    assert diagnose.login(no_auth, WHERE, TARGET, None).code is Code.MECHANISM_UNAVAILABLE
    no_xoauth2 = SMTPException("the server does not offer AUTH XOAUTH2")
    assert diagnose.login(no_xoauth2, WHERE, TARGET, None).code is Code.MECHANISM_UNAVAILABLE


def test_the_brokers_refusal_is_oauth_not_connected() -> None:
    refused = AccessTokenRefused(account_id=uuid.uuid4(), error=Refusal.NOT_CONNECTED, detail="no grant")
    failure = SmtpFailure(failed(Verdict.GIVE_UP, "the account ann must be connected"))
    assert diagnose.login(failure, WHERE, TARGET, refused).code is Code.OAUTH_NOT_CONNECTED


def test_connect_errors_are_read_through_their_causes() -> None:
    error = SMTPConnectError("Error connecting to smtp.example.org on port 587")
    error.__cause__ = ConnectionRefusedError(111, "Connection refused")  # as aiosmtplib raises it
    assert diagnose.connection(error, WHERE).code is Code.CONNECTION_REFUSED
    waited = SMTPConnectTimeoutError("Timed out waiting for server ready message")
    assert diagnose.connection(waited, WHERE).code is Code.TIMEOUT
    assert diagnose.timed_out(waited)


def test_a_refused_test_message_is_send_rejected() -> None:
    found = diagnose.sending(diagnose.Rejected("550 5.1.1 no such mailbox"), WHERE)
    assert found.code is Code.SEND_REJECTED
    assert "550" in found.message
