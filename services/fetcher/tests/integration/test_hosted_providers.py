"""#11: the fetcher's IMAP sync (S7) against the hosted providers that cannot run here, Gmail and
Microsoft 365 / Exchange Online, played over implicit TLS (S9, verification on) by
`testkit.scripted_imap` from the facts in `testkit.providers`.

What a user wants, and what is checked: the fetcher syncs exactly the folders the account names
(its inbox and A11's further folders; it never LISTs), a Gmail message under two labels is stored
once per folder it is synced from (INBOX, the label's folder, All Mail: the store's identity is the
folder's UID), polls never store a message twice (G5), and a throttling or limit answer at LOGIN,
SELECT or FETCH ends the poll with a reason that quotes the server, loses nothing and leaves the
folder's cursor at the last stored message, so the next scheduled poll (G2) finishes the job.
"""

import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fetcher_testing import FetchWorld, message
from mailbridge.common.db.mailstore import FetchState, FolderSyncState
from mailbridge.common.db.tables import MailAccount, MailServer, User
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.providers import EXCHANGE_ONLINE, GMAIL, ProviderProfile
from mailbridge.testkit.scripted_imap import ScriptedImap, ScriptedMailbox
from sqlalchemy import select

LOGIN, PASSWORD = "owner@example.org", "app password 1"


@dataclass
class Hosted:
    world: FetchWorld
    box: ScriptedMailbox
    script: ScriptedImap
    server: HostileServer

    async def account(self, *folders: str) -> uuid.UUID:
        """An IMAP account on the scripted provider with these further folders (A11)."""
        async with self.world.sessions() as session:
            owner = User(name="Owner", email=f"{uuid.uuid4().hex}@example.com")
            server = MailServer(
                name=f"hosted-{uuid.uuid4().hex}", smtp_host="127.0.0.1:25", smtp_encryption="none",
                incoming_protocol="imap", incoming_host=f"127.0.0.1:{self.server.port}",
                incoming_tls=True, incoming_tls_mode="implicit",
            )  # fmt: skip
            session.add_all([owner, server])
            await session.flush()
            account = MailAccount(
                owner_user_id=owner.id, server_id=server.id, login=LOGIN, address=LOGIN,
                password_encrypted=self.world.secrets.encrypt(PASSWORD), sync_folders=list(folders),
            )  # fmt: skip
            session.add(account)
            await session.commit()
            return account.id

    def commands(self) -> list[str]:
        """What the fetcher sent, without tags."""
        return [line.partition(b" ")[2].decode(errors="replace") for line in self.server.received]

    def selected(self) -> list[str]:
        return [c.removeprefix("SELECT ") for c in self.commands() if c.startswith("SELECT ")]

    async def cursor(self, account: uuid.UUID, folder: str = "INBOX") -> int | None:
        async with self.world.sessions() as session:
            state = await session.get(FolderSyncState, (account, folder))
            return None if state is None else state.last_uid

    async def state(self, account: uuid.UUID) -> FetchState:
        async with self.world.sessions() as session:
            found = await session.scalar(select(FetchState).where(FetchState.account_id == account))
            assert found is not None
            return found


@contextmanager
def hosted(world: FetchWorld, profile: ProviderProfile) -> Iterator[Hosted]:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(world.stack.tls.server_cert, world.stack.tls.server_key)
    box = ScriptedMailbox(profile, LOGIN, PASSWORD)
    script = ScriptedImap(profile, box)
    with HostileServer(script, tls=tls) as server:
        yield Hosted(world, box, script, server)


@pytest.fixture
def gmail(world: FetchWorld) -> Iterator[Hosted]:
    with hosted(world, GMAIL) as provider:
        yield provider


@pytest.fixture
def exchange(world: FetchWorld) -> Iterator[Hosted]:
    with hosted(world, EXCHANGE_ONLINE) as provider:
        yield provider


async def test_s7_a11_gmail_a_message_under_two_labels_is_stored_once_per_folder_synced(
    gmail: Hosted,
) -> None:
    """#11, S7/A11/G5: Gmail shows labels as folders. A message in INBOX labelled Work is in INBOX,
    Work and [Gmail]/All Mail, with its own UID in each; the account syncs exactly its folders (no
    LIST, so neither [Gmail] (\\Noselect) nor any folder it did not name is touched) and the store
    keeps one row per folder synced, the same bytes each time, and never a second one."""
    labelled = gmail.box.add(message(1, LOGIN), labels=("Work",))
    sent = gmail.box.add(message(2, LOGIN), folder="[Gmail]/Sent Mail")
    gmail.box.add(message(3, LOGIN))
    folders = ("Work", "[Gmail]/Sent Mail", "[Gmail]/All Mail")
    account = await gmail.account(*folders)

    result = await gmail.world.fetch(account)

    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    stored = await gmail.world.stored(account)
    where = sorted((m.folder, m.uid) for m in stored if m.raw == labelled.raw)
    assert where == [("INBOX", 1), ("Work", 1), ("[Gmail]/All Mail", 1)]
    assert [(m.folder, m.uid) for m in stored if m.raw == sent.raw] == [
        ("[Gmail]/All Mail", 2),
        ("[Gmail]/Sent Mail", 1),
    ]
    assert len(stored) == 7
    assert result.counts is not None
    assert result.counts.folders == {"INBOX": 2, "Work": 1, "[Gmail]/Sent Mail": 1, "[Gmail]/All Mail": 3}
    assert gmail.selected() == ['"INBOX" (CONDSTORE)'] + [f'"{f}" (CONDSTORE)' for f in folders]
    assert not [c for c in gmail.commands() if c.startswith(("LIST", "LSUB"))]

    again = await gmail.world.fetch(account)
    assert again.counts is not None
    assert again.counts.new == 0
    assert len(await gmail.world.stored(account)) == 7


async def test_s7_gmail_seen_under_one_label_is_seen_in_every_folder_synced(gmail: Hosted) -> None:
    """#11, S7: Gmail's flags belong to the message, so \\Seen set in Work shows in INBOX and All
    Mail too; with Gmail's CONDSTORE the fetcher asks only for what changed (UID SEARCH MODSEQ)."""
    labelled = gmail.box.add(message(1, LOGIN), labels=("Work",))
    gmail.box.add(message(2, LOGIN))
    account = await gmail.account("Work", "[Gmail]/All Mail")
    await gmail.world.fetch(account)
    gmail.box.set_flags(labelled, add=("\\Seen",))

    result = await gmail.world.fetch(account)

    assert result.counts is not None
    assert result.counts.flags_changed == 3
    seen = sorted(m.folder for m in await gmail.world.stored(account) if m.seen)
    assert seen == ["INBOX", "Work", "[Gmail]/All Mail"]
    assert any(c.startswith("UID SEARCH") and " MODSEQ " in c for c in gmail.commands())


async def test_s7_a11_gmail_the_noselect_parent_among_the_folders_does_not_break_the_sync(
    gmail: Hosted,
) -> None:
    """#11, S7/A11: an account whose folders include the [Gmail] parent (\\Noselect: it holds no
    messages, Gmail answers NO to SELECT) still syncs every other folder; the parent is named in
    the fetch's skipped list with the server's answer instead of failing the poll."""
    gmail.box.add(message(1, LOGIN), labels=("Work",))
    gmail.box.add(message(2, LOGIN), folder="[Gmail]/Sent Mail")
    account = await gmail.account("[Gmail]", "Work", "[Gmail]/Sent Mail")

    result = await gmail.world.fetch(account)

    assert {m.folder for m in await gmail.world.stored(account)} == {"INBOX", "Work", "[Gmail]/Sent Mail"}
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert result.counts is not None
    assert [item["folder"] for item in result.counts.skipped] == ["[Gmail]"]


async def test_s7_gmail_throttled_ok_answers_change_nothing(gmail: Hosted) -> None:
    """#11, S7: Gmail's 'OK Success [THROTTLED]' is a success (the server slows down, it does not
    refuse): everything is stored as without it."""
    for index in range(10):
        gmail.box.add(message(index, LOGIN))
    throttled = GMAIL.refusal("throttled")
    gmail.script.inject(throttled, at="SELECT")
    gmail.script.inject(throttled, at="FETCH", times=3)
    account = await gmail.account()

    result = await gmail.world.fetch(account)

    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert [m.uid for m in await gmail.world.stored(account)] == list(range(1, 11))


async def test_s7_exchange_without_condstore_sees_flag_changes(exchange: Hosted) -> None:
    """#11, S7: Exchange Online offers no CONDSTORE: SELECT goes without the parameter, the fetcher
    reads every message's flags each poll and picks up changes both ways; it writes nothing back
    to the server."""
    messages = [exchange.box.add(message(i, LOGIN), flags=("\\Seen",) if i == 2 else ()) for i in range(3)]
    account = await exchange.account()
    await exchange.world.fetch(account)
    exchange.box.set_flags(messages[1], add=("\\Seen",))
    exchange.box.set_flags(messages[2], remove=("\\Seen",), add=("\\Flagged",))

    result = await exchange.world.fetch(account)

    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    stored = await exchange.world.stored(account)
    assert [m.seen for m in stored] == [False, True, False]
    assert [m.flags for m in stored][2] == ["\\Flagged"]
    assert set(exchange.selected()) == {'"INBOX"'}
    assert not [c for c in exchange.commands() if c.startswith(("UID STORE", "STORE")) or " MODSEQ " in c]


async def test_s7_exchange_without_condstore_counts_only_real_flag_changes(exchange: Hosted) -> None:
    """#11 finding 2, S7: without CONDSTORE a poll in which nothing changed reports no flag change,
    and one in which two messages changed reports two."""
    messages = [exchange.box.add(message(i, LOGIN)) for i in range(3)]
    account = await exchange.account()
    await exchange.world.fetch(account)

    quiet = await exchange.world.fetch(account)
    exchange.box.set_flags(messages[0], add=("\\Seen",))
    exchange.box.set_flags(messages[2], add=("\\Answered",))
    changed = await exchange.world.fetch(account)

    assert quiet.counts is not None
    assert changed.counts is not None
    assert (quiet.counts.flags_changed, changed.counts.flags_changed) == (0, 2)


REFUSALS = [
    pytest.param(GMAIL, "too_many_connections", "LOGIN", id="gmail-login-too-many"),
    pytest.param(GMAIL, "over_quota", "FETCH", id="gmail-fetch-over-quota"),
    pytest.param(EXCHANGE_ONLINE, "login_throttled", "LOGIN", id="exchange-login-throttled"),
    pytest.param(
        EXCHANGE_ONLINE,
        "server_unavailable",
        "SELECT",
        id="exchange-select-unavailable",
    ),
    pytest.param(EXCHANGE_ONLINE, "not_connected", "SELECT", id="exchange-select-not-connected"),
    pytest.param(EXCHANGE_ONLINE, "command_throttled", "FETCH", id="exchange-fetch-throttled"),
]


@pytest.mark.parametrize(("profile", "refusal_name", "at"), REFUSALS)
async def test_s7_g2_a_throttling_answer_loses_nothing_and_the_next_poll_finishes(
    world: FetchWorld, profile: ProviderProfile, refusal_name: str, at: str
) -> None:
    """#11, S7/G2/G5: a throttling or limit answer, word for word as the provider gives it, at
    LOGIN, SELECT or the second body FETCH (after the sizes and the first batch of 7): the poll
    fails with a reason that quotes the server, transiently (the provider lifts it by itself), what
    was stored stays, the folder's cursor is not past it, and the next scheduled poll stores the
    rest, each message once."""
    refusal = profile.refusal(refusal_name)
    with hosted(world, profile) as provider:
        for index in range(10):
            provider.box.add(message(index, LOGIN))
        account = await provider.account()
        provider.script.inject(refusal, at=at, skip=2 if at == "FETCH" else 0)

        failed = await world.fetch(account)
        stored_before = [m.uid for m in await world.stored(account)]
        cursor = await provider.cursor(account)
        state = await provider.state(account)

        assert failed.reason is not None
        assert refusal.text in failed.reason
        assert stored_before == (list(range(1, 8)) if at == "FETCH" else [])
        assert cursor == (7 if at == "FETCH" else None)
        assert (state.status, state.permanent) == ("failed", False), f"permanent: {state.reason}"

        finished = await world.fetch(account, FetchReason.SCHEDULED)

        assert (finished.outcome, finished.reason) == (Outcome.DONE, None)
        assert [m.uid for m in await world.stored(account)] == list(range(1, 11))
        assert await provider.cursor(account) == 10
