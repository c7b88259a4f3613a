"""IMAP sync on every server of the matrix (#11): byte-exact initial sync of INBOX and personal
folders, a quiet second poll, new mail between polls, a UIDVALIDITY change, and the CONDSTORE path
where the server offers it and the plain one where it does not."""

from interop.imap_matrix import (
    ANSWERED,
    FLAGGED,
    SEEN,
    Corpus,
    capabilities,
    counted,
    on_server_flags,
    seed,
    synced,
)
from interop.interop_testing import InteropWorld, eight_bit, large, plain, server_messages
from mailbridge.common.events import MailboxReset
from mailbridge.fetcher.fetch_account import Outcome

# What each server of the matrix offers (its Debian defaults): the test says which path it took.
CHANGE_TRACKING = {"dovecot": {"CONDSTORE", "QRESYNC"}, "courier": set(), "cyrus": {"CONDSTORE", "QRESYNC"}}


async def test_initial_sync_is_byte_exact_in_every_folder(interop_world: InteropWorld) -> None:
    """#11, S7 (imap: several folders), S8/S9 (implicit TLS, the server's CA): INBOX, `Archiv`
    and `Gesendet` under the server's personal namespace, 20 messages with raw 8-bit UTF-8
    headers and one of 2 MB: stored byte for byte as the server holds them, each once, each in
    its folder, with its flags."""
    world = interop_world
    login = world.server.add_user()
    to, folder = login.address, world.server.folder
    flag_cycle: list[tuple[str, ...]] = [(), (SEEN,), (FLAGGED,), (SEEN, ANSWERED)]
    corpus: Corpus = {
        "INBOX": [(plain(i, to), flag_cycle[i % 4]) for i in range(7)]
        + [(eight_bit(i, to), flag_cycle[i % 4]) for i in range(7, 10)]
        + [(large(10, to), (SEEN,))],
        folder("Archiv"): [(plain(i, to), flag_cycle[i % 4]) for i in range(11, 14)]
        + [(eight_bit(i, to), (SEEN,)) for i in range(14, 16)],
        folder("Gesendet"): [(eight_bit(i, to), (SEEN,)) for i in range(16, 18)]
        + [(plain(i, to), (SEEN, ANSWERED)) for i in range(18, 20)],
    }
    seed(world, login, corpus)
    account = await world.account(login, folders=[folder("Archiv"), folder("Gesendet")])
    result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert counted(result)[0] == 20
    server = {(f, uid): raw for f in corpus for uid, raw in server_messages(world.server, login, f).items()}
    stored = await world.stored(account)
    assert sorted((m.folder, m.uid) for m in stored) == sorted(server), "each message once, in its folder"
    assert {(m.folder, m.uid): m.raw for m in stored} == server, "byte-exact"
    assert max(len(raw) for raw in server.values()) > 2_000_000
    flags = on_server_flags(world, login, list(corpus))
    assert {(m.folder, m.uid): set(m.flags) for m in stored} == flags
    assert {(m.folder, m.uid): m.seen for m in stored} == {key: SEEN in f for key, f in flags.items()}


async def test_second_poll_with_nothing_changed_changes_nothing(interop_world: InteropWorld) -> None:
    """#11 findings 2 and 3, S7: a poll after nothing changed stores nothing, counts no flag
    change (without CONDSTORE every flag is read, but only real changes count; a message just
    downloaded is no change) and names every synced folder with its count in `on_server`."""
    world = interop_world
    _, account = await synced(world)
    again = await world.fetch(account)
    assert (again.outcome, again.reason) == (Outcome.DONE, None)
    folder = world.server.folder
    expected = {"INBOX": 3, folder("Archiv"): 2, folder("Gesendet"): 1}
    state = await world.fetch_state(account)
    seen = (
        counted(again),
        again.counts and again.counts.folders,
        state.status,
        state.counts.get("on_server"),
    )
    assert seen == ((0, 0), expected, "ok", expected)


async def test_new_mail_between_polls_is_new_and_no_flag_change(interop_world: InteropWorld) -> None:
    """#11 finding 2, S7: mail that arrived since the last poll is downloaded and counted as
    new, never also as a flag change (on a CONDSTORE server its MODSEQ is above the cursor's,
    without CONDSTORE its flags are read with everyone else's)."""
    world = interop_world
    login, account = await synced(world)
    archiv = world.server.folder("Archiv")
    with world.seeder(login) as seeder:
        seeder.append("INBOX", plain(7, login.address))
        seeder.append(archiv, eight_bit(8, login.address), [SEEN])
    result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert counted(result) == (2, 0)
    stored = {(m.folder, m.uid): m.raw for m in await world.stored(account)}
    server = {
        (f, uid): raw
        for f in ("INBOX", archiv)
        for uid, raw in server_messages(world.server, login, f).items()
    }
    assert {key: raw for key, raw in stored.items() if key[0] in ("INBOX", archiv)} == server


async def test_uidvalidity_change_resets_the_folder_without_duplicates(interop_world: InteropWorld) -> None:
    """#11, S7, G5's rule (no duplicates): `Archiv` deleted and created again on the server
    (a new UIDVALIDITY) with its messages APPENDed again and one more: the folder is reset
    (MailboxReset), the same rows are re-based onto the new UIDs, only the new one is stored."""
    world = interop_world
    login, account = await synced(world)
    archiv = world.server.folder("Archiv")
    before = {m.id: m.raw for m in await world.stored(account) if m.folder == archiv}
    with world.seeder(login) as seeder:
        old = seeder.uidvalidity(archiv)
        again = [seeder.fetch_raw(archiv, uid) for uid in seeder.uids(archiv)]
        seeder.delete(archiv)
        seeder.create(archiv)
        for raw in [*again, plain(7, login.address)]:
            seeder.append(archiv, raw)
        new = seeder.uidvalidity(archiv)
    assert new != old, "the server kept UIDVALIDITY across DELETE and CREATE"
    result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert counted(result)[0] == 1
    server = server_messages(world.server, login, archiv)
    after = [m for m in await world.stored(account) if m.folder == archiv]
    assert {m.uid: m.raw for m in after} == server, "every message once, byte-exact"
    assert {m.uidvalidity for m in after} == {new}
    assert {m.id: m.raw for m in after if m.id in before} == before, "the same rows, re-based"
    assert MailboxReset.subject in await world.outbox_subjects()
    assert len(await world.stored(account)) == 7


async def test_condstore_where_offered_and_the_plain_path_where_not(interop_world: InteropWorld) -> None:
    """#11, S7: Dovecot and Cyrus offer CONDSTORE and QRESYNC (the fetcher keeps HIGHESTMODSEQ
    and asks only for what changed since), Courier neither (every flag is read and compared):
    which path the server got is asserted from its CAPABILITY and the stored cursor, and the
    outcome is the same: one flag change, counted once, stored."""
    world = interop_world
    login, account = await synced(world)
    offered = capabilities(world.server, login)
    assert offered & {"CONDSTORE", "QRESYNC"} == CHANGE_TRACKING[world.server.name]
    condstore = "CONDSTORE" in offered
    before = (await world.cursors(account))["INBOX"].highest_modseq
    assert (before is not None) == condstore
    with world.seeder(login) as seeder:
        seeder.store("INBOX", seeder.uids("INBOX")[0], "+FLAGS", [FLAGGED])
    result = await world.fetch(account)
    assert counted(result) == (0, 1)
    after = (await world.cursors(account))["INBOX"].highest_modseq
    assert (after is not None and before is not None and after > before) == condstore
    stored = [m for m in await world.stored(account) if m.folder == "INBOX"]
    assert FLAGGED in stored[0].flags
