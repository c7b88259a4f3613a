"""#17: a connection's shared slot (`connection_slots.held_slot`) is given back on every path, a
failure and a cancellation included; with all held nothing is taken and the words say which
login, how many and which limit; the keys are one per protocol, server and login."""

import asyncio

import pytest
from mailbridge.common.connection_slots import NoConnectionSlot, held_slot, slot_key
from mailbridge.common.credential_checks import Code
from mailbridge.common.credential_diagnosis import Diagnosed
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.testkit.limits_memory import MemoryStore

SLOT = ("pop3", "pop.example.org", 995, "ann@example.org")


async def free(limits: SharedLimits) -> bool:
    slot = await limits.take_slot(slot_key(*SLOT), 1)
    if slot is not None:
        await limits.give_back(slot_key(*SLOT), slot)
    return slot is not None


async def test_the_slot_goes_back_after_the_block_a_failure_and_a_cancellation() -> None:
    limits = SharedLimits(MemoryStore())
    async with held_slot(limits, *SLOT, 1):
        assert not await free(limits)
    assert await free(limits)

    with pytest.raises(ConnectionResetError):
        async with held_slot(limits, *SLOT, 1):
            raise ConnectionResetError("the server went away")
    assert await free(limits)

    entered = asyncio.Event()

    async def connection() -> None:
        async with held_slot(limits, *SLOT, 1):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(connection())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await free(limits)


async def test_with_every_slot_held_nothing_is_taken_and_the_words_say_so() -> None:
    store = MemoryStore()
    limits, other = SharedLimits(store), SharedLimits(store)
    held = await other.take_slot(slot_key(*SLOT), 1)
    assert held is not None
    with pytest.raises(NoConnectionSlot) as refused:
        async with held_slot(limits, *SLOT, 1):
            pytest.fail("connected with every slot held")
    assert isinstance(refused.value, Diagnosed)  # a credentials test's step reports it as it is
    assert refused.value.found.code is Code.CONNECTION_LIMIT_REACHED
    said = refused.value.found.message
    assert "ann@example.org already holds all 1 POP3 connections pop.example.org:995" in said
    assert "imap_connections_per_login" in said

    with pytest.raises(TimeoutError, match="all 1 POP3"):
        async with held_slot(limits, *SLOT, 1, refused=lambda full: TimeoutError(full.reason)):
            pass
    await other.give_back(slot_key(*SLOT), held)
    assert await free(limits)


async def test_without_limits_nothing_is_counted() -> None:
    store = MemoryStore()
    async with held_slot(SharedLimits(store), *SLOT, None), held_slot(None, *SLOT, 1):
        assert store.values == {}


def test_keys_are_one_per_protocol_server_and_login() -> None:
    assert slot_key("imap", "Mail.Example.org", 993, "Ann") == slot_key(
        "imap", "mail.example.org", 993, "ann"
    )
    assert slot_key("imap", "mail.example.org", 993, "ann") != slot_key(
        "pop3", "mail.example.org", 993, "ann"
    )
    smtp = slot_key("smtp", "smtp.example.org", 587, "ann")
    assert smtp != slot_key("smtp", "smtp.example.org", 587, "ann", "an-account-id")  # an OAuth login's own
