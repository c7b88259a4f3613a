"""The fetcher's credentials-test diagnoses (T1), pure: the IMAP/POP3 adapters' failures → codes."""

import uuid

from mailbridge.common.credential_checks import Code
from mailbridge.common.oauth_requests import AccessTokenRefused, Refusal
from mailbridge.fetcher import credential_diagnosis as diagnose
from mailbridge.fetcher.failures import Kind, TokenRejected, needs_connect, permanent, transient

WHERE = "imap.example.org:993"


def test_a_refused_login_is_auth_failed_and_a_throttled_one_is_not() -> None:
    refused = permanent("login as ann rejected: NO [AUTHENTICATIONFAILED] Authentication failed.")
    assert diagnose.login(refused, WHERE, "ann", None).code is Code.AUTH_FAILED
    token = TokenRejected(Kind.PERMANENT, "OAuth login as ann rejected: NO [AUTHENTICATIONFAILED]")
    assert diagnose.login(token, WHERE, "ann", None).code is Code.AUTH_FAILED
    throttled = transient("login as ann rejected: NO [UNAVAILABLE] Request is throttled")
    assert diagnose.login(throttled, WHERE, "ann", None).code is Code.ERROR


def test_the_brokers_refusal_decides_between_not_connected_and_needs_reconnect() -> None:
    refused = AccessTokenRefused(account_id=uuid.uuid4(), error=Refusal.NEEDS_RECONNECT, detail="revoked")
    found = diagnose.login(needs_connect("connect it again"), WHERE, "ann", refused)
    assert found.code is Code.OAUTH_NEEDS_RECONNECT


def test_starttls_and_deadlines_from_the_adapters_words() -> None:
    no_starttls = permanent("imap.example.org does not offer STARTTLS; refusing to log in in clear")
    assert diagnose.connection(no_starttls, WHERE).code is Code.STARTTLS_UNAVAILABLE
    no_stls = permanent("imap.example.org:110 does not offer STLS, and the server is set to use TLS")
    assert diagnose.connection(no_stls, WHERE).code is Code.STARTTLS_UNAVAILABLE
    silent = transient("cannot connect to imap.example.org:143: no answer to the greeting within 1 s")
    assert diagnose.connection(silent, WHERE).code is Code.TIMEOUT
    assert diagnose.timed_out(silent)


def test_a_missing_folder_and_a_message_that_never_came() -> None:
    missing = diagnose.folder(diagnose.FolderMissing("Spam", "NO Mailbox doesn't exist"), WHERE)
    assert missing.code is Code.FOLDER_MISSING
    assert "Spam" in missing.message
    late = diagnose.receiving(diagnose.NotReceived("INBOX", 60), WHERE)
    assert late.code is Code.NOT_RECEIVED
    assert "60 s" in late.message
