"""POP3 on every server of the matrix (#11): 8-bit headers byte-exact, UIDL keeps a second poll
from fetching again, delete-after-load removes exactly what was stored."""

from interop.interop_testing import InteropWorld, eight_bit, large, plain, pop3_count, server_messages
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.testkit.interop import InteropLogin

MAX_MESSAGE_BYTES = 1024 * 1024


def seed_inbox(world: InteropWorld, login: InteropLogin, messages: list[bytes]) -> dict[int, bytes]:
    """APPEND to INBOX over IMAP; the messages as the server holds them, by UID."""
    with world.seeder(login) as seeder:
        for raw in messages:
            seeder.append("INBOX", raw)
    return server_messages(world.server, login, "INBOX")


async def test_pop3_stores_8bit_headers_byte_exact_and_fetches_once(interop_world: InteropWorld) -> None:
    """#11 finding 1, S7 (pop3), S8/S9: a message with raw 8-bit UTF-8 headers comes out of
    POP3 as the server holds it (not a stand-in the server made for a client without UTF8),
    the others too; a second poll fetches nothing again (UIDL) and nothing is deleted unless
    configured."""
    world = interop_world
    login = world.server.add_user()
    to = login.address
    on_server = seed_inbox(world, login, [plain(1, to), eight_bit(2, to), eight_bit(3, to), plain(4, to)])
    account = await world.account(login, "pop3")
    first = await world.fetch(account)
    assert (first.outcome, first.reason) == (Outcome.DONE, None)
    stored = await world.stored(account)
    assert sorted(m.raw for m in stored) == sorted(on_server.values()), "byte-exact, each once"
    again = await world.fetch(account)
    assert (again.outcome, again.reason) == (Outcome.DONE, None)
    assert again.counts is not None
    assert again.counts.new == 0
    assert len(await world.stored(account)) == 4
    assert pop3_count(world.server, login) == 4, "nothing deleted unless configured"


async def test_pop3_delete_after_load_removes_exactly_what_was_stored(interop_world: InteropWorld) -> None:
    """#11 finding 1, S11 (delete after loading): what is stored byte-exact is deleted on the
    server, what is not stored stays there — a message over the maximum size (listed as
    skipped), and any message the server would only hand out as a substitute."""
    world = interop_world.with_max_message_bytes(MAX_MESSAGE_BYTES)
    login = world.server.add_user()
    to = login.address
    before = seed_inbox(world, login, [plain(1, to), eight_bit(2, to), large(3, to), plain(4, to)])
    account = await world.account(login, "pop3", delete_after_fetch=True)
    result = await world.fetch(account)
    assert result.outcome is Outcome.DONE
    assert result.counts is not None
    assert [item["size"] > MAX_MESSAGE_BYTES for item in result.counts.skipped] == [True]
    stored = sorted(m.raw for m in await world.stored(account))
    left = sorted(server_messages(world.server, login, "INBOX").values())
    assert sorted(stored + left) == sorted(before.values()), "every message stored byte-exact or left"
    assert not set(stored) & set(left), "what was stored is deleted"
    assert result.counts.deleted_on_server == len(stored)
    assert [raw for raw in before.values() if len(raw) > MAX_MESSAGE_BYTES] == [
        raw for raw in left if len(raw) > MAX_MESSAGE_BYTES
    ]
