"""#11: the provider profiles carry a source for every fact, and the scripted server speaks them:
Gmail's labels as folders with one message in several, [Gmail] not selectable, CONDSTORE only
where offered, and each throttling answer at the command it is injected at."""

import imaplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields

import pytest
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.providers import EXCHANGE_ONLINE, GMAIL, PROFILES, ProviderProfile
from mailbridge.testkit.scripted_imap import ScriptedImap, ScriptedMailbox
from mailbridge.testkit.scripted_imap_wire import parse_args, sequence_set

RAW = b"From: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n"


@contextmanager
def client(script: ScriptedImap) -> Iterator[imaplib.IMAP4]:
    with HostileServer(script) as server:
        imap = imaplib.IMAP4(server.host, server.port, timeout=10)
        try:
            yield imap
        finally:
            imap.shutdown()


def served(profile: ProviderProfile) -> tuple[ScriptedMailbox, ScriptedImap]:
    box = ScriptedMailbox(profile, "user@example.org", "secret pass")
    return box, ScriptedImap(profile, box)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_every_fact_of_a_profile_names_its_source(profile: ProviderProfile) -> None:
    facts = {f.name for f in fields(profile)} - {"name", "host", "sources", "refusals"}
    assert facts <= set(profile.sources), f"facts without a source: {facts - set(profile.sources)}"
    for source in [s for group in profile.sources.values() for s in group] + [
        r.source for r in profile.refusals
    ]:
        assert source.url.startswith("https://")
        assert source.shows


def test_gmail_greets_lists_and_keeps_the_gmail_parent_unselectable() -> None:
    _, script = served(GMAIL)
    with client(script) as imap:
        assert imap.welcome == b"* OK " + GMAIL.greeting.removeprefix("OK ").encode()
        assert "X-GM-EXT-1" in imap.capabilities
        assert "CONDSTORE" not in imap.capabilities, "offered only after login"
        assert imap.login("user@example.org", "secret pass") == ("OK", [b"Success"])
        assert "CONDSTORE" in imap.capability()[1][0].decode().split()
        listed = imap.list()[1]
        assert b'(\\HasChildren \\Noselect) "/" "[Gmail]"' in listed
        assert b'(\\All \\HasNoChildren) "/" "[Gmail]/All Mail"' in listed
        assert imap.list('""', '"[Gmail]/%"')[1][0] == b'(\\All \\HasNoChildren) "/" "[Gmail]/All Mail"'
        assert imap.namespace()[1] == [b'(("" "/")) NIL NIL']
        status, said = imap.select('"[Gmail]"')
        assert status == "NO"
        assert b"NONEXISTENT" in (said[0] or b"")


def test_gmail_one_message_under_two_labels_is_in_three_folders_with_shared_flags() -> None:
    box, script = served(GMAIL)
    box.add(b"Subject: first\r\n\r\n1\r\n")
    message = box.add(RAW, labels=("Work",))
    assert box.folders_of(message) == ["INBOX", "Work", "[Gmail]/All Mail"]
    assert [box.uid_of(message, f) for f in box.folders_of(message)] == [2, 1, 2]
    with client(script) as imap:
        imap.login("user@example.org", "secret pass")
        assert imap.select('"Work"') == ("OK", [b"1"])
        assert imap.uid("STORE", "1", "+FLAGS.SILENT", "(\\Seen)") == ("OK", [None])
        imap.select("INBOX")
        fetched = imap.uid("FETCH", "2", "(FLAGS X-GM-LABELS BODY.PEEK[])")[1]
        assert fetched[0][1] == RAW
        assert b"FLAGS (\\Seen)" in fetched[0][0]
        assert b'X-GM-LABELS ("\\\\Inbox" "Work")' in fetched[0][0]


def test_gmail_reports_highestmodseq_and_finds_changes_since() -> None:
    box, script = served(GMAIL)
    first, second = box.add(RAW), box.add(RAW)
    with client(script) as imap:
        imap.login("user@example.org", "secret pass")
        imap.select("INBOX")
        highest = int(imap.response("HIGHESTMODSEQ")[1][0])
        box.set_flags(second, add=("\\Flagged",))
        assert imap.uid("SEARCH", "MODSEQ", str(highest + 1))[1][0].startswith(b"2 (MODSEQ ")
        assert imap.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE", f"{highest})")[1] == [
            b"2 (UID 2 FLAGS (\\Flagged) MODSEQ (%d))" % second.modseq
        ]
        assert first.modseq < second.modseq


def test_exchange_has_no_condstore_and_refuses_the_select_parameter() -> None:
    box, script = served(EXCHANGE_ONLINE)
    box.add(RAW)
    with client(script) as imap:
        imap.login("user@example.org", "secret pass")
        assert imap.select("INBOX") == ("OK", [b"1"])
        assert imap.response("HIGHESTMODSEQ") == ("HIGHESTMODSEQ", [None])
        assert imap.response("UIDVALIDITY")[1] == [str(box.folders["INBOX"].uidvalidity).encode()]
        with pytest.raises(imaplib.IMAP4.error, match="arguments invalid"):
            imap._simple_command("SELECT", "INBOX", "(CONDSTORE)")


def test_exchange_store_expunge_and_move_with_copyuid() -> None:
    box, script = served(EXCHANGE_ONLINE)
    kept, gone, moved = box.add(RAW), box.add(RAW), box.add(RAW)
    with client(script) as imap:
        assert imap.authenticate("PLAIN", lambda _: b"\0user@example.org\0secret pass")[0] == "OK"
        imap.select("INBOX")
        imap.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
        assert imap.expunge() == ("OK", [b"2"])
        assert imap.uid("MOVE", "3", '"Deleted Items"')[0] == "OK"
        copyuid = imap.untagged_responses.get("OK", [])[-1]
        assert isinstance(copyuid, bytes)
        assert copyuid.startswith(b"[COPYUID 10 3 1]")
    assert box.folders_of(kept) == ["INBOX"]
    assert box.folders_of(gone) == []
    assert box.folders_of(moved) == ["Deleted Items"]


def test_an_injected_refusal_answers_the_chosen_command_after_the_skipped_ones() -> None:
    box, script = served(EXCHANGE_ONLINE)
    box.add(RAW)
    script.inject(EXCHANGE_ONLINE.refusal("command_throttled"), at="FETCH", skip=1)
    with client(script) as imap:
        imap.login("user@example.org", "secret pass")
        imap.select("INBOX")
        assert imap.uid("FETCH", "1", "(FLAGS)")[0] == "OK"
        with pytest.raises(imaplib.IMAP4.error, match=r"Request is throttled\. Suggested Backoff Time"):
            imap.uid("FETCH", "1", "(FLAGS)")
        assert imap.uid("FETCH", "1", "(FLAGS)")[0] == "OK", "once, then as before"


def test_a_gmail_throttled_ok_only_changes_the_tagged_text() -> None:
    box, script = served(GMAIL)
    box.add(RAW)
    script.inject(GMAIL.refusal("throttled"), at="SELECT")
    with client(script) as imap:
        imap.login("user@example.org", "secret pass")
        assert imap._simple_command("SELECT", "INBOX") == ("OK", [b"Success [THROTTLED]"])
        assert imap._simple_command("SELECT", "INBOX") == ("OK", [b"[READ-WRITE] Success"])


def test_a_refusal_at_login_and_one_that_ends_the_connection() -> None:
    _, script = served(EXCHANGE_ONLINE)
    script.inject(EXCHANGE_ONLINE.refusal("login_throttled"), at="LOGIN")
    script.inject(EXCHANGE_ONLINE.refusal("not_connected"), at="SELECT")
    with client(script) as imap:
        with pytest.raises(imaplib.IMAP4.error, match="Request is throttled"):
            imap.login("user@example.org", "secret pass")
        imap.login("user@example.org", "secret pass")
        for _ in range(2):
            with pytest.raises(imaplib.IMAP4.error, match="User is authenticated but not connected"):
                imap.select("INBOX")
        with pytest.raises(imaplib.IMAP4.abort, match=r"Connection closed\. 14"):
            imap.noop()


def test_a_wrong_password_is_refused() -> None:
    _, script = served(GMAIL)
    with client(script) as imap, pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap.login("user@example.org", "wrong")


def test_arguments_and_sequence_sets_parse_as_imap_says() -> None:
    assert parse_args(b'SELECT "[Gmail]/All Mail" (CONDSTORE)') == [
        b"SELECT", b"[Gmail]/All Mail", [b"CONDSTORE"]
    ]  # fmt: skip
    assert parse_args(b"FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM TO)])") == [
        b"FETCH", b"1:*", [b"UID", b"BODY.PEEK[HEADER.FIELDS (FROM TO)]"]
    ]  # fmt: skip
    assert parse_args(b'LOGIN "a \\"b\\" \\\\c" x') == [b"LOGIN", b'a "b" \\c', b"x"]
    assert sequence_set("1:3,7,9:*", 10) == {1, 2, 3, 7, 9, 10}
    assert sequence_set("5:*", 3) == {3}
    assert sequence_set("1:4294967295", 2) == {1, 2}
    assert sequence_set("1:*", 0) == set()
