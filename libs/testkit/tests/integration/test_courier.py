"""A private Courier on loopback (#11): logins on every port, folders, and POP3's Unicode stand-in.

One instance for the module. The stand-in tests pin down finding 1 of #11 at the server level:
for a message with raw 8-bit UTF-8 headers, a POP3 client that does not send `UTF8` (RFC 6856)
gets a server-made "Cannot display Unicode content" message instead of the original, while
LIST still announces the original's size.
"""

import imaplib
import poplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbridge.testkit.courier import Courier, missing_courier
from mailbridge.testkit.fixtures import unavailable
from mailbridge.testkit.imap_seed import ImapSeeder
from mailbridge.testkit.interop import InteropLogin, InteropServer, client_context

pytestmark = pytest.mark.slow

UNICODE_MESSAGE = (
    "From: Jürgen Müller <juergen@example.test>\r\n"
    "To: Zoë Ångström <zoe@example.test>\r\n"
    "Subject: Grüße aus Köln\r\n"
    "Message-ID: <courier-utf8@example.test>\r\n"
    "Date: Mon, 01 Dec 2025 10:00:00 +0100\r\n"
    "\r\n"
    "Hallo, schöne Grüße.\r\n"
).encode()
ASCII_MESSAGE = (
    b"From: a@example.test\r\nTo: b@example.test\r\nSubject: plain\r\n"
    b"Message-ID: <courier-ascii@example.test>\r\n\r\n.leading dot\r\nbody\r\n"
)
STAND_IN_MARKS = (
    b"From: Mail Delivery Subsystem <postmaster>\r\n",
    b"Subject: Cannot display Unicode content\r\n",
    b"Content-Type: message/global\r\n",
)


@pytest.fixture(scope="module")
def courier() -> Iterator[Courier]:
    reason = missing_courier()
    if reason is not None:
        unavailable(reason)
    with Courier() as server:
        yield server


@pytest.fixture
def login(courier: Courier) -> InteropLogin:
    return courier.add_user()


def _typed(server: InteropServer) -> InteropServer:
    return server  # mypy proves here that Courier satisfies the matrix's protocol


def _capabilities(session: imaplib.IMAP4) -> set[str]:
    status, data = session.capability()
    assert status == "OK"
    return set(bytes(data[0]).decode().upper().split())


def _pop3s(server: Courier) -> poplib.POP3_SSL:
    return poplib.POP3_SSL(server.host, server.ports.pop3s, context=client_context(server), timeout=30)


def _retrieve(session: poplib.POP3, number: int) -> bytes:
    lines = session.retr(number)[1]
    return b"".join(line + b"\r\n" for line in lines)


def _seed(server: Courier, login: InteropLogin, *messages: bytes) -> None:
    with ImapSeeder(server, login) as seeder:
        for raw in messages:
            seeder.append("INBOX", raw)


def test_identity(courier: Courier) -> None:
    server = _typed(courier)
    assert (server.name, server.separator, server.personal_prefix) == ("courier", ".", "INBOX.")
    assert server.version.startswith("5.0.13")
    assert server.folder("Archiv") == "INBOX.Archiv"
    assert server.folder("Archiv/2024") == "INBOX.Archiv.2024"


def test_imaps_login_and_capabilities(courier: Courier, login: InteropLogin) -> None:
    with imaplib.IMAP4_SSL(courier.host, courier.ports.imaps, ssl_context=client_context(courier)) as session:
        before = _capabilities(session)
        assert session.login(login.address, login.password)[0] == "OK"
        after = _capabilities(session)
    assert {"IMAP4REV1", "UIDPLUS", "IDLE", "ENABLE", "UTF8=ACCEPT", "AUTH=PLAIN"} <= before
    assert after == before
    assert not {"CONDSTORE", "QRESYNC", "STARTTLS"} & before


def test_starttls_login(courier: Courier, login: InteropLogin) -> None:
    with imaplib.IMAP4(courier.host, courier.ports.imap, timeout=30) as session:
        assert "STARTTLS" in session.capabilities
        assert "AUTH=PLAIN" not in session.capabilities  # offered only under TLS
        session.starttls(ssl_context=client_context(courier))
        assert "STARTTLS" not in session.capabilities
        assert session.login(login.address, login.password)[0] == "OK"


def test_append_and_fetch_are_byte_exact(courier: Courier, login: InteropLogin) -> None:
    with ImapSeeder(courier, login) as seeder:
        uids = [seeder.append("INBOX", raw, ["\\Seen"]) for raw in (UNICODE_MESSAGE, ASCII_MESSAGE)]
        assert [seeder.fetch_raw("INBOX", uid) for uid in uids] == [UNICODE_MESSAGE, ASCII_MESSAGE]
        assert seeder.flags("INBOX") == {uids[0]: {"\\Seen"}, uids[1]: {"\\Seen"}}


def test_personal_folders_use_dot_and_maildirplusplus(courier: Courier, login: InteropLogin) -> None:
    archive = courier.folder("Archiv")
    with ImapSeeder(courier, login) as seeder:
        seeder.create(archive)
        uid = seeder.append(archive, ASCII_MESSAGE)
        assert seeder.fetch_raw(archive, uid) == ASCII_MESSAGE
    with imaplib.IMAP4_SSL(courier.host, courier.ports.imaps, ssl_context=client_context(courier)) as session:
        session.login(login.address, login.password)
        status, listed = session.list()
    assert status == "OK"
    assert any(line.endswith(b' "." "INBOX.Archiv"') for line in listed if isinstance(line, bytes))
    assert (courier.user(login.address).maildir / ".Archiv" / "cur").is_dir()


def test_pop3s_login_and_capa(courier: Courier, login: InteropLogin) -> None:
    session = _pop3s(courier)
    try:
        capa = session.capa()
        assert capa["UTF8"] == ["USER"]
        assert "UIDL" in capa
        assert "STLS" not in capa
        session.user(login.address)
        assert session.pass_(login.password).startswith(b"+OK")
        assert session.stat() == (0, 0)
    finally:
        session.quit()


def test_pop3_stls_login(courier: Courier, login: InteropLogin) -> None:
    session = poplib.POP3(courier.host, courier.ports.pop3, timeout=30)
    try:
        assert "STLS" in session.capa()
        session.stls(context=client_context(courier))
        session.user(login.address)
        assert session.pass_(login.password).startswith(b"+OK")
    finally:
        session.quit()


def _listed_and_retrieved(server: Courier, login: InteropLogin, utf8: str | None) -> tuple[int, bytes]:
    """POP3S: LIST's size and RETR's bytes of message 1; `UTF8` sent "before login", "after
    login" or not at all (None)."""
    session = _pop3s(server)
    try:
        if utf8 == "before login":
            assert session.utf8().startswith(b"+OK")
        session.user(login.address)
        session.pass_(login.password)
        if utf8 == "after login":
            assert session.utf8().startswith(b"+OK")
        number, size = session.list()[1][0].split()
        return int(size), _retrieve(session, int(number))
    finally:
        session.quit()


def test_pop3_without_utf8_gets_a_stand_in_for_8bit_headers(courier: Courier, login: InteropLogin) -> None:
    """#11 finding 1: LIST gives the original's size, RETR a different, larger message."""
    _seed(courier, login, UNICODE_MESSAGE)
    listed, retrieved = _listed_and_retrieved(courier, login, None)
    assert listed == len(UNICODE_MESSAGE)
    assert len(retrieved) > listed
    header = retrieved.partition(b"\r\n\r\n")[0] + b"\r\n"
    assert STAND_IN_MARKS[0] in header
    assert STAND_IN_MARKS[1] in header
    assert STAND_IN_MARKS[2] in retrieved
    assert UNICODE_MESSAGE.partition(b"\r\n\r\n")[0] in retrieved  # the original, attached


@pytest.mark.parametrize("when", ["before login", "after login"])
def test_pop3_with_utf8_gets_the_original(courier: Courier, login: InteropLogin, when: str) -> None:
    """RFC 6856 §3: UTF8 may be sent before or after authentication; Courier takes both."""
    _seed(courier, login, UNICODE_MESSAGE)
    assert _listed_and_retrieved(courier, login, when) == (len(UNICODE_MESSAGE), UNICODE_MESSAGE)


def test_pop3_without_utf8_gets_ascii_messages_unchanged(courier: Courier, login: InteropLogin) -> None:
    _seed(courier, login, ASCII_MESSAGE)
    assert _listed_and_retrieved(courier, login, None) == (len(ASCII_MESSAGE), ASCII_MESSAGE)


def test_users_added_while_running_log_in_at_once(courier: Courier) -> None:
    context = client_context(courier)
    for _ in range(5):
        login = courier.add_user()
        with imaplib.IMAP4_SSL(courier.host, courier.ports.imaps, ssl_context=context) as session:
            assert session.login(login.address, login.password)[0] == "OK"


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie has ended; an orphan's waits for init to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(path), path.stat().st_mode, path.stat().st_mtime_ns) for path in folder.rglob("*"))


def test_stop_leaves_no_process_and_no_change_outside_its_folder() -> None:
    reason = missing_courier()
    if reason is not None:
        unavailable(reason)
    etc, run = _listing(Path("/etc/courier")), _listing(Path("/run/courier"))
    mounts = Path("/proc/self/mountinfo").read_text()
    server = Courier()
    login = server.add_user()
    server.start()
    with ImapSeeder(server, login) as seeder:
        seeder.append("INBOX", ASCII_MESSAGE)
        members = server.pids()
        assert len(members) > 5  # leader, authdaemond and its children, 4 listeners, this session
        server.stop()
    assert [pid for pid in members if _alive(pid)] == []
    assert not server.paths.folder.exists()
    assert (_listing(Path("/etc/courier")), _listing(Path("/run/courier"))) == (etc, run)
    assert Path("/proc/self/mountinfo").read_text() == mounts
