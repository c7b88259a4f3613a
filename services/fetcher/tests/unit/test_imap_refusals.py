"""#11: a refused LOGIN or SELECT is "not now" (transient: the next scheduled poll tries again, G2)
or "not so" (permanent: a person must act). RFC 5530's response code decides first, the words of
the providers' throttling answers only without a code; a wrong password stays permanent whatever
words come with it. And the LIST check that tells a \\Noselect parent from a missing folder."""

import pytest
from aioimaplib import Response
from mailbridge.fetcher.adapters.imap_failures import refusal, refused_for_now
from mailbridge.fetcher.failures import Kind
from mailbridge.fetcher.imap_wire import listed_noselect
from mailbridge.testkit.providers import PROFILES, Refusal

WRONG_PASSWORD = [
    "[AUTHENTICATIONFAILED] Authentication failed.",  # Dovecot 2.3 (imap-login)
    "Login failed.",  # Courier 5.0 (imaplogin)
    "Login failed: authentication failure",  # Cyrus 3.6 ("NO Login failed: %s", SASL_BADAUTH)
    "[AUTHENTICATIONFAILED] Invalid credentials (Failure)",  # Gmail
    "LOGIN failed.",  # Exchange
    "Authentication failed, please try again",  # words of a failed login on some servers
    "[AUTHENTICATIONFAILED] Too many login failures, account unavailable",  # the code decides
]
NOT_NOW = [
    "[UNAVAILABLE] Temporary authentication failure. [mail:2026-12-03 13:37:00]",  # Dovecot
    "Too many open connections (user)",  # Cyrus 3.6
    "Login failed: remote authentication server unavailable",  # Cyrus with SASL_UNAVAIL
    "[INUSE] Mailbox in use by another session",  # RFC 5530 §3
    "[LIMIT] Too many mailboxes selected",
]
NOT_FOUND = ["[NONEXISTENT] Unknown Mailbox: Archive (Failure)", "Mailbox doesn't exist: Archive"]


@pytest.mark.parametrize("said", WRONG_PASSWORD + NOT_FOUND)
def test_a_refusal_that_means_not_so_is_permanent(said: str) -> None:
    assert not refused_for_now(said)
    assert refusal(Response("NO", [said.encode()]), "login as a rejected").kind is Kind.PERMANENT


@pytest.mark.parametrize("said", NOT_NOW)
def test_a_refusal_that_means_not_now_is_transient(said: str) -> None:
    assert refused_for_now(said)


@pytest.mark.parametrize(
    "answer",
    [r for p in PROFILES for r in p.refusals if r.status != "OK"],
    ids=lambda r: r.name,
)
def test_every_providers_throttling_answer_is_transient(answer: Refusal) -> None:
    """The word-for-word refusals of testkit.providers (Gmail, Exchange Online), as they arrive."""
    status, text = answer.status, answer.text
    failure = refusal(Response(status, [b"CAPABILITY IMAP4rev1", text.encode()]), "folder 'INBOX'")
    assert failure.kind is Kind.TRANSIENT
    assert text in failure.reason


def test_the_providers_missing_folder_answers_are_permanent() -> None:
    for profile in PROFILES:
        said = profile.no_such_folder.format(folder="Archive")
        assert refusal(Response("NO", [said.encode()]), "folder 'Archive'").kind is Kind.PERMANENT


def test_only_the_tagged_line_is_classified() -> None:
    """An untagged line before the refusal (Dovecot's [CLOSED] on a second SELECT) decides nothing."""
    lines = [b"OK [CLOSED] Previous mailbox closed.", b"[NONEXISTENT] Mailbox doesn't exist: Archiv"]
    assert refusal(Response("NO", lines), "folder 'Archiv'").kind is Kind.PERMANENT


def test_listed_noselect_matches_the_name_as_select_sent_it() -> None:
    lines: list[bytes | bytearray] = [
        b'(\\HasChildren \\Noselect) "/" "[Gmail]"',  # aioimaplib drops the word LIST
        b'LIST (\\HasNoChildren) "/" "[Gmail]/All Mail"',
        b'(\\Noselect \\HasChildren) "." "Entw&APw-rfe"',
        b'(\\Noselect) "." "Entw\xc3\xbcrfe"',
        b"Success",
    ]
    assert listed_noselect(lines, '"[Gmail]"')
    assert not listed_noselect(lines, '"[Gmail]/All Mail"')
    assert listed_noselect(lines, '"Entw&APw-rfe"')  # modified UTF-7, before UTF8=ACCEPT
    assert listed_noselect(lines, '"Entw\u00fcrfe"')  # UTF-8, once it is enabled (RFC 6855)
    assert not listed_noselect(lines, '"Work"')
    assert not listed_noselect([b'(\\HasNoChildren) "/" INBOX', b"OK"], '"INBOX"')
    assert listed_noselect([b'(\\NoSelect) NIL "A \\"q\\""', b"OK"], '"A \\"q\\""')
