"""#18 IMAP IDLE push without a server: the holder's rounds on fake leases (a lease taken over
stops its watcher, a stop frees every lease, a permanent failure rests until the configuration
changes), reconnect backoff, the push fetch's message id and EXISTS parsing."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

from fetcher_testing import ACCOUNT, NoBroker
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.adapters.imap_idle import exists_count
from mailbridge.fetcher.failures import permanent
from mailbridge.fetcher.fetch_account import refusal
from mailbridge.fetcher.idle_holder import IdleHolder, IdleSettings, push_id, reconnect_delay
from mailbridge.fetcher.idle_ports import Candidate, Census
from mailbridge.fetcher.imap_framing import ResponseFramer
from mailbridge.fetcher.model import AccountConfig, Credentials, LastOutcome


class Leases:
    def __init__(self, *accounts: AccountConfig) -> None:
        self.accounts = {a.account_id: a for a in accounts}
        self.holders: dict[uuid.UUID, str] = {}
        self.seen: set[str] = set()

    async def candidates(self, limit: int) -> list[Candidate]:
        free = [a for a in self.accounts.values() if a.account_id not in self.holders]
        return [Candidate(a.account_id, a.config_version) for a in free][:limit]

    async def census(self, holder: str, ttl: timedelta) -> Census:
        self.seen.add(holder)
        return Census(len(self.seen), len(self.accounts))

    async def leave(self, holder: str) -> None:
        self.seen.discard(holder)

    async def pushable(self, account_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        return {a: self.accounts[a].config_version for a in account_ids if a in self.accounts}

    async def account(self, account_id: uuid.UUID) -> AccountConfig | None:
        return self.accounts.get(account_id)

    async def take(self, account_id: uuid.UUID, holder: str, ttl: timedelta) -> bool:
        return self.holders.setdefault(account_id, holder) == holder

    async def renew(self, holder: str, account_ids: Collection[uuid.UUID], ttl: timedelta) -> set[uuid.UUID]:
        return {a for a in account_ids if self.holders.get(a) == holder}

    async def release(self, holder: str, account_ids: Collection[uuid.UUID]) -> None:
        for account_id in account_ids:
            if self.holders.get(account_id) == holder:
                del self.holders[account_id]


class Session:
    offers_idle = True

    async def watch(self, folder: str) -> int | None:
        return 1

    async def new_mail(self, reissue_s: float) -> int:
        await asyncio.Event().wait()  # nothing ever arrives
        return 0


class Connector:
    def __init__(self) -> None:
        self.refuse = False

    @asynccontextmanager
    async def logged_in(self, account: AccountConfig, credentials: Credentials) -> AsyncIterator[Session]:
        if self.refuse:
            raise permanent("login rejected")
        yield Session()


class Requests:
    async def push(self, account_id: uuid.UUID, msg_id: str) -> None:
        return None


def holder(leases: Leases, connector: Connector, max_connections: int = 10) -> IdleHolder:
    return IdleHolder(leases, connector, Requests(), NoBroker(), "me", IdleSettings(max_connections))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lease_taken_over_stops_its_watcher_and_stop_frees_the_rest() -> None:
    other = replace(ACCOUNT, account_id=uuid.uuid4())
    leases, connector = Leases(ACCOUNT, other), Connector()
    replica = holder(leases, connector)
    await replica.round()
    await settle()
    assert replica.idling == {ACCOUNT.account_id, other.account_id}
    leases.holders[other.account_id] = "someone else"
    await replica.round()
    await settle()
    assert replica.held == {ACCOUNT.account_id}
    assert replica.idling == {ACCOUNT.account_id}
    await replica.stop()
    assert leases.holders == {other.account_id: "someone else"}, "released at stop"


async def test_max_connections_bounds_the_accounts_held() -> None:
    accounts = [replace(ACCOUNT, account_id=uuid.uuid4()) for _ in range(5)]
    replica = holder(Leases(*accounts), Connector(), max_connections=3)
    await replica.round()
    await replica.round()
    assert len(replica.held) == 3
    await replica.stop()


async def test_a_permanent_failure_rests_until_the_configuration_changes() -> None:
    leases, connector = Leases(ACCOUNT), Connector()
    connector.refuse = True
    replica = holder(leases, connector)
    await replica.round()
    await settle()
    assert not replica.watching
    await replica.round()
    assert replica.held == set()
    assert leases.holders == {}, "released"
    await replica.round()
    assert replica.held == set(), "not taken again: same configuration"
    leases.accounts[ACCOUNT.account_id] = replace(ACCOUNT, config_version="2.1")
    connector.refuse = False
    await replica.round()
    assert replica.held == {ACCOUNT.account_id}, "a changed configuration is tried again"
    await replica.stop()


def test_reconnect_delay_doubles_up_to_its_bound() -> None:
    assert [reconnect_delay(n, 1.0, 10.0) for n in (1, 2, 3, 4, 5, 100)] == [1, 2, 4, 8, 10, 10]


def test_push_id_drops_a_repeat_within_the_minute_only() -> None:
    account = uuid.uuid4()
    assert push_id(account, "e5", 120.0) == push_id(account, "e5", 179.9)
    assert push_id(account, "e5", 120.0) != push_id(account, "e6", 120.0)
    assert push_id(account, "e5", 120.0) != push_id(account, "e5", 180.0)
    assert push_id(account, "e5", 120.0) != push_id(uuid.uuid4(), "e5", 120.0)


def test_exists_count_takes_the_highest_exists() -> None:
    assert exists_count([b"3 RECENT", b"OK Still here"]) is None
    assert exists_count([b"5 EXISTS", b"1 RECENT", b"7 exists"]) == 7
    assert exists_count([b"2 EXPUNGE", b"4 FETCH (FLAGS (\\Seen))"]) is None


def test_a_shrunk_framer_still_frames_a_long_line() -> None:
    """An idling connection's small line buffer grows again for a line longer than it."""
    framer = ResponseFramer()
    framer.shrink(64)
    line = b"* 1 FETCH (FLAGS (" + b"\\Seen " * 2000 + b"))"
    assert framer.feed(line + b"\r\n* 2 EXISTS\r\n") == [line, b"* 2 EXISTS"]


def test_a_push_fetch_waits_like_a_scheduled_one() -> None:
    """A push is automatic: after a permanent failure it waits for a configuration change, and an
    OAuth account waits to be connected (O4); a person's manual fetch still tries."""
    failed = LastOutcome(permanent=True, config_version=ACCOUNT.config_version, reason="no such folder")
    assert refusal(FetchReason.PUSH, ACCOUNT, failed) == "waiting for a configuration change: no such folder"
    assert refusal(FetchReason.MANUAL, ACCOUNT, failed) is None
    oauth = replace(ACCOUNT, uses_oauth=True, oauth_state="needs_reconnect")
    assert (refusal(FetchReason.PUSH, oauth, None) or "").startswith(
        "waiting for the account to be connected"
    )


async def test_a_changed_configuration_is_watched_anew_and_an_account_no_longer_pushed_is_let_go() -> None:
    other = replace(ACCOUNT, account_id=uuid.uuid4())
    leases = Leases(ACCOUNT, other)
    replica = holder(leases, Connector())
    await replica.round()
    await settle()
    first = replica._watchers[ACCOUNT.account_id]  # which watcher runs
    leases.accounts[ACCOUNT.account_id] = replace(ACCOUNT, config_version="2.1")
    del leases.accounts[other.account_id]  # push off, or no longer IMAP: not pushable
    await replica.round()
    await settle()
    assert first.cancelled()
    assert replica.held == {ACCOUNT.account_id}
    assert replica.idling == {ACCOUNT.account_id}, "watched again with the new configuration"
    assert other.account_id not in leases.holders, "released"
    await replica.stop()


async def test_replicas_split_the_accounts_and_a_newcomer_gets_its_share() -> None:
    """Alone, a replica idles every account; a second one makes each one's share half: the
    first hands the accounts above it over and the second takes them."""
    accounts = [replace(ACCOUNT, account_id=uuid.uuid4()) for _ in range(6)]
    leases, connector = Leases(*accounts), Connector()
    first = IdleHolder(leases, connector, Requests(), NoBroker(), "first", IdleSettings(10))
    second = IdleHolder(leases, connector, Requests(), NoBroker(), "second", IdleSettings(10))
    await first.round()
    assert len(first.held) == 6
    await second.round()  # seen now: the share is three each
    await first.round()
    await second.round()
    assert (len(first.held), len(second.held)) == (3, 3)
    assert first.held.isdisjoint(second.held)
    await second.stop()  # leaves: the first takes them all again
    await first.round()
    assert len(first.held) == 6
    await first.stop()
