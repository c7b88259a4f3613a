"""IMAP helpers of the interop matrix: a small corpus in INBOX, `Archiv` and `Gesendet` seeded
over IMAP, an account synced once, the server's flags and CAPABILITY as a client sees them."""

import imaplib
import uuid

from interop.interop_testing import InteropWorld, eight_bit, plain
from mailbridge.fetcher.fetch_account import Outcome, Result
from mailbridge.testkit.interop import InteropLogin, InteropServer, client_context

SEEN, FLAGGED, ANSWERED = "\\Seen", "\\Flagged", "\\Answered"

Corpus = dict[str, list[tuple[bytes, tuple[str, ...]]]]


def seed(world: InteropWorld, login: InteropLogin, corpus: Corpus) -> None:
    """Create the personal folders of `corpus` and APPEND its messages with their flags."""
    with world.seeder(login) as seeder:
        for folder in corpus:
            if folder != "INBOX":
                seeder.create(folder)
        for folder, items in corpus.items():
            for raw, flags in items:
                seeder.append(folder, raw, flags)


def small_corpus(world: InteropWorld, login: InteropLogin) -> Corpus:
    to, folder = login.address, world.server.folder
    return {
        "INBOX": [(plain(1, to), ()), (eight_bit(2, to), (SEEN,)), (plain(3, to), (FLAGGED,))],
        folder("Archiv"): [(plain(4, to), (SEEN,)), (eight_bit(5, to), ())],
        folder("Gesendet"): [(plain(6, to), (SEEN, ANSWERED))],
    }


async def synced(world: InteropWorld) -> tuple[InteropLogin, uuid.UUID]:
    """A new mailbox seeded with the small corpus and an account syncing all its folders, after
    its first fetch."""
    login = world.server.add_user()
    corpus = small_corpus(world, login)
    seed(world, login, corpus)
    account = await world.account(login, folders=[f for f in corpus if f != "INBOX"])
    first = await world.fetch(account)
    assert (first.outcome, first.reason) == (Outcome.DONE, None)
    return login, account


def on_server_flags(
    world: InteropWorld, login: InteropLogin, folders: list[str]
) -> dict[tuple[str, int], set[str]]:
    with world.seeder(login) as seeder:
        return {(folder, uid): flags for folder in folders for uid, flags in seeder.flags(folder).items()}


def capabilities(server: InteropServer, login: InteropLogin) -> set[str]:
    """CAPABILITY after login, as the server answers it."""
    client = imaplib.IMAP4_SSL(
        server.host, server.ports.imaps, ssl_context=client_context(server), timeout=30
    )
    try:
        client.login(login.address, login.password)
        _, data = client.capability()
        return set(data[0].decode().upper().split()) if data and isinstance(data[0], bytes) else set()
    finally:
        client.logout()


def counted(result: Result) -> tuple[int, int]:
    assert result.counts is not None, result.reason
    return result.counts.new, result.counts.flags_changed
