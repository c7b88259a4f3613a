"""#17: IMAP connections per server and login, shared by every fetcher replica on the real NATS
KV: with a limit of one, a second replica does not connect while the first keeps its connection
(the fetch is retried later), and does once it is closed."""

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
from fetcher_testing import FetchWorld
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.events import FetchReason
from mailbridge.common.limits_kv import KvStore
from mailbridge.common.shared_limits import SharedLimits, scope_key
from mailbridge.fetcher.adapters.imap_connections import ImapConnections
from mailbridge.fetcher.fetch_account import FetchDeps, Outcome, Result, fetch_account
from mailbridge.testkit.connection_slots import shared_bucket
from mailbridge.testkit.users import MailUser
from nats.js.kv import KeyValue
from sqlalchemy import update


@pytest.fixture
async def bucket(nats_url: str) -> AsyncIterator[KeyValue]:
    async with shared_bucket(nats_url, "test-imap-limits") as found:
        yield found


async def fetch(deps: FetchDeps, account: uuid.UUID) -> Result:
    async def no_heartbeat() -> None:
        return None

    return await fetch_account(deps, account, FetchReason.MANUAL, no_heartbeat)


async def test_a_second_replica_waits_for_the_logins_one_connection(
    world: FetchWorld, mail_user: MailUser, bucket: KeyValue
) -> None:
    account = await world.account(mail_user)
    async with world.sessions() as session:
        server_id = (await session.get(MailAccount, account)).server_id  # type: ignore[union-attr]
        await session.execute(
            update(MailServer).where(MailServer.id == server_id).values(imap_connections_per_login=1)
        )
        await session.commit()
    one, two = (ImapConnections(keep=4, idle_s=300.0, limits=SharedLimits(KvStore(bucket))) for _ in range(2))
    replicas = [dataclasses.replace(world.deps, connections=connections) for connections in (one, two)]
    try:
        assert (await fetch(replicas[0], account)).outcome is Outcome.DONE  # and keeps its connection
        refused = await fetch(replicas[1], account)
        assert refused.outcome is Outcome.RETRY
        assert refused.reason is not None
        assert "IMAP connections" in refused.reason
        await one.close_all()  # the slot goes back with the connection
        assert (await fetch(replicas[1], account)).outcome is Outcome.DONE
    finally:
        await one.close_all()
        await two.close_all()
        port = world.stack.ports.imaps
        await bucket.purge(scope_key("conn", "imap", "127.0.0.1", port, mail_user.address))
