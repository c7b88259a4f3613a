"""#17: every connection of a mailbox holds one of its login's shared slots (a provider counts
them all, e.g. Microsoft 365): POP3 fetches, the credentials test's IMAP and POP3 sessions and
IMAP IDLE connections (#18, which leave the last slot to fetches) too, on the real NATS KV against the harness's Dovecot, both databases. With all slots held by
another replica nothing is connected (a fetch is retried; the credentials test's step says so,
`connection_limit_reached`), and a slot goes back on every path, a refused login included."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from fetcher_testing import FetchWorld
from mailbridge.common.connection_slots import slot_key
from mailbridge.common.credential_checks import (
    CheckReply,
    Code,
    IncomingCheckRequest,
    ReceiveCheckRequest,
    Status,
    Step,
)
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.events import FetchReason
from mailbridge.common.limits_kv import KvStore
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.fetcher.adapters.credential_incoming import IncomingChecks, sent_folders
from mailbridge.fetcher.adapters.imap_idle import ImapIdleConnections
from mailbridge.fetcher.adapters.pop3 import Pop3Sessions
from mailbridge.fetcher.credentials import credentials
from mailbridge.fetcher.failures import FetchFailure, Kind
from mailbridge.fetcher.fetch_account import Outcome, Result, fetch_account
from mailbridge.testkit.connection_slots import OtherReplica, check_refused_while_held, shared_bucket
from mailbridge.testkit.credential_reports import by_step, failed_at
from nats.js.kv import KeyValue
from sqlalchemy import update


@pytest.fixture
async def bucket(nats_url: str) -> AsyncIterator[KeyValue]:
    async with shared_bucket(nats_url, "test-connection-slots") as found:
        yield found


@dataclass
class Mailbox:
    """One account allowed one connection, this fetcher's limits, and another replica's."""

    world: FetchWorld
    account: uuid.UUID
    limits: SharedLimits
    other: OtherReplica

    def checks(self) -> IncomingChecks:
        deps = self.world.deps
        return IncomingChecks(
            deps.store, deps.tokens, sent_folders(self.world.sessions), deps.ssl_context, 5.0,
            poll_s=0.2, limits=self.limits,
        )  # fmt: skip

    async def check(self) -> CheckReply:
        reply = await self.checks().check(IncomingCheckRequest(account_id=self.account, test_id=uuid.uuid4()))
        assert isinstance(reply, CheckReply)
        return reply

    async def pop3_fetch(self) -> Result:
        async def no_heartbeat() -> None:
            return None

        deps = replace(self.world.deps, pop3=Pop3Sessions(self.limits))
        return await fetch_account(deps, self.account, FetchReason.MANUAL, no_heartbeat)


async def one_connection(
    world: FetchWorld, bucket: KeyValue, protocol: str, password: str | None = None, limit: int = 1
) -> AsyncIterator[Mailbox]:
    user = world.stack.add_user()
    account = await world.account(user, protocol, password=password)
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        await session.execute(
            update(MailServer).where(MailServer.id == row.server_id).values(imap_connections_per_login=limit)
        )
        await session.commit()
    port = world.stack.ports.pop3s if protocol == "pop3" else world.stack.ports.imaps
    key = slot_key(protocol, "127.0.0.1", port, user.address)
    try:
        yield Mailbox(world, account, SharedLimits(KvStore(bucket)), OtherReplica(bucket, key))
    finally:
        await bucket.purge(key)  # nothing of this test's counting is left in the session's bucket


async def test_a_pop3_fetch_holds_a_slot_and_waits_while_another_replica_holds_all(
    world: FetchWorld, bucket: KeyValue
) -> None:
    async for box in one_connection(world, bucket, "pop3"):
        assert (await box.pop3_fetch()).outcome is Outcome.DONE
        assert await box.other.free(), "the slot went back when the session ended"
        held = await box.other.hold()
        refused = await box.pop3_fetch()
        assert refused.outcome is Outcome.RETRY  # transient: the fetch comes again with backoff
        assert refused.reason is not None
        assert "all 1 POP3 connections" in refused.reason
        await box.other.release(held)
        assert (await box.pop3_fetch()).outcome is Outcome.DONE


async def test_a_pop3_fetch_whose_login_is_refused_gives_its_slot_back(
    world: FetchWorld, bucket: KeyValue
) -> None:
    async for box in one_connection(world, bucket, "pop3", password="not-it"):
        refused = await box.pop3_fetch()
        assert refused.reason is not None
        assert "rejected" in refused.reason  # the login failed (recorded on the account)
        assert await box.other.free()


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_the_credentials_test_says_so_when_every_slot_is_held(
    world: FetchWorld, bucket: KeyValue, protocol: str
) -> None:
    step = Step.TLS_INCOMING if protocol == "imap" else Step.LOGIN_INCOMING  # where the session opens
    async for box in one_connection(world, bucket, protocol):
        await check_refused_while_held(box.other, box.check, step, protocol, "imap_connections_per_login")


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_a_credentials_test_whose_login_is_refused_gives_its_slot_back(
    world: FetchWorld, bucket: KeyValue, protocol: str
) -> None:
    async for box in one_connection(world, bucket, protocol, password="not-it"):
        failed_at((await box.check()).steps, Step.LOGIN_INCOMING, Code.AUTH_FAILED)
        assert await box.other.free()


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_the_receive_says_so_when_every_slot_is_held(
    world: FetchWorld, bucket: KeyValue, protocol: str
) -> None:
    async for box in one_connection(world, bucket, protocol):
        held = await box.other.hold()
        try:
            request = ReceiveCheckRequest(account_id=box.account, test_id=uuid.uuid4(), receive_timeout_s=0)
            reply = await box.checks().receive(request)
            assert isinstance(reply, CheckReply)
            receive = by_step(reply.steps)[Step.RECEIVE]
            assert (receive.status, receive.code) == (Status.FAILED, Code.CONNECTION_LIMIT_REACHED)
        finally:
            await box.other.release(held)
        assert await box.other.free()


async def test_an_idle_connection_holds_a_slot_and_leaves_the_last_one_to_fetches(
    world: FetchWorld, bucket: KeyValue
) -> None:
    async for box in one_connection(world, bucket, "imap", limit=2):
        account = await world.deps.store.load_account(box.account)
        assert account is not None
        idle = ImapIdleConnections(world.stack.client_context(), 10.0, box.limits)
        async with idle.logged_in(account, await credentials(account, world.deps.tokens)) as session:
            assert session.offers_idle
            assert not await box.other.free(limit=1), "the IDLE connection holds a slot"
            assert await box.other.free(limit=2), "and leaves the other one to a fetch"
            held = await box.other.hold(limit=2)
        assert await box.other.free(limit=2), "its slot went back when it closed"

        with pytest.raises(FetchFailure) as refused:  # only the last slot free: no IDLE connection
            async with idle.logged_in(account, await credentials(account, world.deps.tokens)):
                pytest.fail("an IDLE connection took the last slot")
        assert refused.value.kind is Kind.TRANSIENT  # the holder tries again later; fetches go on
        assert "at most the one IDLE leaves to fetches is free" in refused.value.reason
        await box.other.release(held)
        assert await box.other.free(limit=1), "a refused IDLE connection holds nothing"
