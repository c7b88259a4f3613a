"""A private Cyrus IMAP 3.6 on loopback: logins, seeding, namespaces, UIDVALIDITY, POP3, stop."""

import imaplib
import os
import poplib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbridge.testkit.cyrus import Cyrus, missing_cyrus
from mailbridge.testkit.cyrus_config import CyrusOptions
from mailbridge.testkit.fixtures import unavailable
from mailbridge.testkit.imap_seed import ImapSeeder, SeedError
from mailbridge.testkit.interop import InteropLogin, client_context

pytestmark = pytest.mark.slow

EIGHT_BIT = "From: Jörg <j@example.com>\r\nSubject: Grüße aus Köln\r\n\r\nHällo, Wörld\r\n".encode()
ASCII = b"From: a@example.com\r\nSubject: plain\r\nMessage-ID: <1@example.com>\r\n\r\nline\r\n.dot\r\n"


def _require_cyrus() -> None:
    reason = missing_cyrus()
    if reason is not None:
        unavailable(reason)


@pytest.fixture(scope="module")
def cyrus() -> Iterator[Cyrus]:
    _require_cyrus()
    with Cyrus() as server:
        yield server


@pytest.fixture
def login(cyrus: Cyrus) -> InteropLogin:
    return cyrus.add_user()


def _munged(raw: bytes) -> bytes:
    """What munge8bit makes of a message: every 8-bit byte of the header section becomes "X"."""
    head, _, body = raw.partition(b"\r\n\r\n")
    return re.sub(rb"[\x80-\xff]", b"X", head) + b"\r\n\r\n" + body


def _capabilities(session: imaplib.IMAP4) -> set[str]:
    return set(session.capability()[1][0].decode().upper().split())


def test_imaps_login_offers_condstore_and_qresync(cyrus: Cyrus, login: InteropLogin) -> None:
    assert cyrus.version.startswith("3.6")
    with imaplib.IMAP4_SSL(cyrus.host, cyrus.ports.imaps, ssl_context=client_context(cyrus)) as session:
        before = _capabilities(session)
        session.login(login.address, login.password)
        after = _capabilities(session)
    assert {"CONDSTORE", "QRESYNC", "UIDPLUS", "AUTH=PLAIN"} <= before
    assert {"CONDSTORE", "QRESYNC", "UIDPLUS", "IDLE", "NAMESPACE"} <= after


def test_the_plain_port_needs_starttls_before_login(cyrus: Cyrus, login: InteropLogin) -> None:
    with imaplib.IMAP4(cyrus.host, cyrus.ports.imap) as session:
        assert {"STARTTLS", "LOGINDISABLED"} <= set(session.capabilities)
        session.starttls(ssl_context=client_context(cyrus))
        assert "LOGINDISABLED" not in _capabilities(session)
        assert session.login(login.address, login.password)[0] == "OK"


def test_a_wrong_password_is_refused_and_the_next_login_works(cyrus: Cyrus, login: InteropLogin) -> None:
    context = client_context(cyrus)
    session = imaplib.IMAP4_SSL(cyrus.host, cyrus.ports.imaps, ssl_context=context)
    with pytest.raises(imaplib.IMAP4.error, match="authentication failure"):
        session.login(login.address, login.password + "x")
    session.shutdown()
    pop = poplib.POP3_SSL(cyrus.host, cyrus.ports.pop3s, context=context)
    pop.user(login.address)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.pass_("wrong")
    pop.quit()
    with ImapSeeder(cyrus, login) as seeder:
        assert seeder.uids("INBOX") == []


def test_append_and_fetch_are_byte_exact(cyrus: Cyrus, login: InteropLogin) -> None:
    eight_bit_body = b"Subject: body only\r\n\r\nH\xc3\xa4llo\r\n"
    with ImapSeeder(cyrus, login) as seeder:
        first = seeder.append("INBOX", ASCII, ["\\Seen"])
        second = seeder.append("INBOX", eight_bit_body)
        assert seeder.fetch_raw("INBOX", first) == ASCII
        assert seeder.fetch_raw("INBOX", second) == eight_bit_body
        assert seeder.flags("INBOX") == {first: {"\\Seen"}, second: set()}


def test_eight_bit_headers_are_munged_to_x_by_default(cyrus: Cyrus, login: InteropLogin) -> None:
    with ImapSeeder(cyrus, login) as seeder:
        uid = seeder.append("INBOX", EIGHT_BIT)
        stored = seeder.fetch_raw("INBOX", uid)
    assert stored == _munged(EIGHT_BIT)
    assert b"Subject: GrXXXXe aus KXXln\r\n" in stored
    assert stored.endswith("Hällo, Wörld\r\n".encode())  # the body is left alone


def test_eight_bit_headers_are_kept_with_munge8bit_off() -> None:
    _require_cyrus()
    with Cyrus(options=CyrusOptions(munge8bit=False)) as server:
        login = server.add_user()
        with ImapSeeder(server, login) as seeder:
            uid = seeder.append("INBOX", EIGHT_BIT)
            assert seeder.fetch_raw("INBOX", uid) == EIGHT_BIT


def test_eight_bit_headers_are_refused_with_reject8bit() -> None:
    _require_cyrus()
    with Cyrus(options=CyrusOptions(reject8bit=True)) as server:
        login = server.add_user()
        with ImapSeeder(server, login) as seeder:
            with pytest.raises(SeedError, match="non-ASCII characters in headers"):
                seeder.append("INBOX", EIGHT_BIT)
            assert seeder.uids("INBOX") == []


def test_personal_folders_live_under_inbox_with_a_dot(cyrus: Cyrus, login: InteropLogin) -> None:
    archive = cyrus.folder("Archiv")
    assert archive == "INBOX.Archiv"
    assert cyrus.folder("Archiv/2024") == "INBOX.Archiv.2024"
    with ImapSeeder(cyrus, login) as seeder:
        seeder.create(archive)
        seeder.append(archive, ASCII)
    with imaplib.IMAP4_SSL(cyrus.host, cyrus.ports.imaps, ssl_context=client_context(cyrus)) as session:
        session.login(login.address, login.password)
        listing = session.list()[1]
        namespace = session.namespace()[1][0]
    assert b'"." INBOX.Archiv' in b"\n".join(item for item in listing if isinstance(item, bytes))
    assert namespace.startswith(b'(("INBOX." "."))')


def test_delete_and_create_give_a_new_uidvalidity(cyrus: Cyrus, login: InteropLogin) -> None:
    folder = cyrus.folder("Gesendet")
    with ImapSeeder(cyrus, login) as seeder:
        seeder.create(folder)
        seeder.append(folder, ASCII)
        before = seeder.uidvalidity(folder)
        seeder.delete(folder)
        seeder.create(folder)
        assert seeder.uidvalidity(folder) != before
        assert seeder.uids(folder) == []


def _retr_raw(session: poplib.POP3, which: int) -> bytes:
    """RETR's message as stored: poplib hands lines without CRLF and with dot-stuffing undone."""
    _, lines, _ = session.retr(which)
    return b"".join(line + b"\r\n" for line in lines)


def test_pop3_over_tls_lists_uidl_and_retrieves_byte_exact(cyrus: Cyrus, login: InteropLogin) -> None:
    with ImapSeeder(cyrus, login) as seeder:
        uid = seeder.append("INBOX", ASCII)
        uidvalidity = seeder.uidvalidity("INBOX")
    session = poplib.POP3_SSL(cyrus.host, cyrus.ports.pop3s, context=client_context(cyrus))
    try:
        session.user(login.address)
        assert session.pass_(login.password).startswith(b"+OK")
        assert session.uidl()[1] == [f"1 {uidvalidity}.{uid}".encode()]
        assert session.list()[1] == [f"1 {len(ASCII)}".encode()]
        assert _retr_raw(session, 1) == ASCII
    finally:
        session.quit()


def test_pop3_stls_login(cyrus: Cyrus, login: InteropLogin) -> None:
    session = poplib.POP3(cyrus.host, cyrus.ports.pop3)
    try:
        assert "STLS" in session.capa()
        assert "USER" not in session.capa()  # no plaintext login before TLS
        session.stls(context=client_context(cyrus))
        assert {"USER", "UIDL", "TOP"} <= set(session.capa())
        session.user(login.address)
        assert session.pass_(login.password).startswith(b"+OK")
        assert session.stat() == (0, 0)
    finally:
        session.quit()


def test_popminpoll_refuses_a_second_pop3_login_within_the_minute() -> None:
    _require_cyrus()
    with Cyrus(options=CyrusOptions(pop_min_poll_minutes=1)) as server:
        login = server.add_user()
        for attempt in range(2):
            session = poplib.POP3_SSL(server.host, server.ports.pop3s, context=client_context(server))
            session.user(login.address)
            if attempt == 0:
                assert session.pass_(login.password).startswith(b"+OK")
            else:
                with pytest.raises(poplib.error_proto, match=r"LOGIN-DELAY"):
                    session.pass_(login.password)
            session.quit()


def _processes_using(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"{folder}/".encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def test_stop_leaves_no_process_and_no_folder() -> None:
    _require_cyrus()
    server = Cyrus().start()
    login = server.add_user()
    with ImapSeeder(server, login) as seeder:
        seeder.append("INBOX", ASCII)
    pop = poplib.POP3_SSL(server.host, server.ports.pop3s, context=client_context(server))
    pop.user(login.address)
    pop.pass_(login.password)  # a pop3d stays alive, waiting for its next connection
    master, folder = server.master_pid, server.paths.folder
    assert master is not None
    assert len(_processes_using(folder)) >= 3  # the master, an imapd, a pop3d
    server.stop()
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.killpg(master, 0)
    assert _processes_using(folder) == []
    assert not folder.exists()
