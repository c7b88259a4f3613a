"""POP3 against the real Dovecot: UIDL identity, S11 delete after loading, S12 delete after N
days from the first download, and nothing deleted that the store has not committed."""

from dataclasses import replace
from datetime import timedelta
from typing import cast

import pytest
from fetcher_testing import FetchWorld, message, no_heartbeat, on_server
from mailbridge.common.db.mailstore import Pop3Seen
from mailbridge.common.db.types import utcnow
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.fetch_account import Outcome, fetch_account
from mailbridge.fetcher.model import AccountConfig, Lease, NewMessage
from mailbridge.fetcher.summary import Summary
from mailbridge.testkit.users import MailUser
from sqlalchemy import update


@pytest.mark.parametrize("tls_port", ["pop3s", "pop3"])
async def test_s7_pop3_downloads_by_uidl_without_duplicates(
    world: FetchWorld, mail_user: MailUser, tls_port: str
) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(4)])
    account = await world.account(mail_user, protocol="pop3", tls_port=tls_port)
    first = await world.fetch(account)
    assert (first.outcome, first.reason) == (Outcome.DONE, None)
    assert first.counts is not None
    assert first.counts.new == 4
    second = await world.fetch(account)
    assert second.counts is not None
    assert second.counts.new == 0
    stored = await world.stored(account)
    assert len({m.uidl for m in stored}) == 4
    assert all(m.raw.startswith(b"From: Sender") for m in stored)
    assert on_server(world, mail_user) == 4, "nothing deleted unless configured"


async def test_s11_delete_after_loading(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(3)])
    account = await world.account(mail_user, protocol="pop3", delete_after_fetch=True)
    result = await world.fetch(account)
    assert result.counts is not None
    assert (result.counts.new, result.counts.deleted_on_server) == (3, 3)
    assert on_server(world, mail_user) == 0
    assert len(await world.stored(account)) == 3


async def test_s12_delete_after_days_counts_from_first_download(
    world: FetchWorld, mail_user: MailUser
) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(2)])
    account = await world.account(mail_user, protocol="pop3", delete_after_days=3)
    await world.fetch(account)
    assert on_server(world, mail_user) == 2, "downloaded today: kept"
    async with world.sessions() as session:
        await session.execute(
            update(Pop3Seen)
            .where(Pop3Seen.account_id == account)
            .values(first_seen_at=utcnow() - timedelta(days=4))
        )
        await session.commit()
    world.stack.seed(mail_user.address, [message(5, mail_user.address)])
    result = await world.fetch(account)
    assert result.counts is not None
    assert (result.counts.new, result.counts.deleted_on_server) == (1, 2)
    assert on_server(world, mail_user) == 1


class FailingStore(MailStore):
    """The real store, except that the n-th write fails (a crash before commit)."""

    def __init__(self, real: MailStore, fail_at: int) -> None:
        self.__dict__.update(real.__dict__)
        self.writes, self.fail_at = 0, fail_at

    async def store_batch(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, messages: list[NewMessage],
        cursor: tuple[str, object] | None = None, summaries: list[Summary] | None = None,
    ) -> int:  # fmt: skip
        self.writes += 1
        if self.writes == self.fail_at:
            raise RuntimeError("simulated crash before commit")
        return await super().store_batch(lease, ttl, account, messages, cursor, summaries)  # type: ignore[arg-type]


async def test_s11_crash_before_commit_deletes_nothing(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(4)])
    account = await world.account(mail_user, protocol="pop3", delete_after_fetch=True)
    store = FailingStore(cast(MailStore, world.deps.store), fail_at=3)
    crashing = replace(world.deps, store=store, holder="crasher", timeout_s=30.0)
    crashed = await fetch_account(crashing, account, FetchReason.MANUAL, no_heartbeat)
    assert crashed.outcome is Outcome.RETRY, "an unforeseen error is recorded and retried, not raised"
    assert crashed.reason is not None
    assert "simulated crash" in crashed.reason
    assert on_server(world, mail_user) == 4, "two were stored, but none deleted before QUIT"
    assert len(await world.stored(account)) == 2
    recovered = await world.fetch(account)
    assert recovered.counts is not None
    assert (recovered.counts.new, recovered.counts.deleted_on_server) == (2, 4)
    assert on_server(world, mail_user) == 0
    assert len(await world.stored(account)) == 4


async def test_g5_pop3_reload_without_duplicates(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(3)])
    account = await world.account(mail_user, protocol="pop3")
    await world.fetch(account)
    reloaded = await world.fetch(account, FetchReason.RELOAD)
    assert reloaded.counts is not None
    assert reloaded.counts.new == 0
    assert len(await world.stored(account)) == 3
