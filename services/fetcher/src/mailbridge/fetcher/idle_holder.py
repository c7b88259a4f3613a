"""IMAP IDLE push (#18): this replica's share of the accounts, each in IDLE on its inbox, and a
FetchRequested (reason `push`) as soon as one announces new mail.

Which replica idles which account is leased like fetch work (`idle_leases`, apart from the fetch
lease: an account is fetched while it idles). Every round (a third of the lease's TTL) the
holder renews the leases it holds in one statement, lets go of the accounts whose lease another
replica took over, marks itself seen (`idle_replicas`) and works out its share: the accounts that
may be pushed divided by the replicas seen within the TTL, at most `max_connections`. It hands
accounts above its share over (releases them) and takes free ones up to it; the accounts beyond
every replica's maximum are polled on the schedule as before. A killed replica is no longer
counted after the TTL, when its leases expire too: the next round of the others takes its
accounts, so they move within the lease time (plus a round).

One watcher per held account: log in (the password, or an OAuth token as for a fetch), SELECT
the inbox, IDLE. An EXISTS ends in `FetchRequested(push)` under a `Nats-Msg-Id` of the account,
the message count and the minute (a burst is one command; two replicas that both saw it during
a hand-over publish one), so the fetch itself is the normal fetch with all its guarantees. IDLE
is ended (DONE) and re-issued every `reissue_s`, before the 29 minutes after which a server may
log an idle client out (RFC 2177). A dropped connection is opened again after a delay that
doubles from `retry_s` to `retry_max_s` (the schedule covers the account meanwhile; a reconnect
that finds UIDNEXT moved publishes a push fetch). A server without IDLE, a refused login or an
account that went away ends the watcher and frees its lease; such an account is not tried again
on this replica for `rest_s` (no IDLE) or until its configuration changes (a permanent failure).
"""

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from mailbridge.fetcher.credentials import signed_in
from mailbridge.fetcher.failures import FetchFailure, Kind
from mailbridge.fetcher.idle_ports import Candidate, FetchRequests, IdleConnector, IdleLeases
from mailbridge.fetcher.ports import TokenSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdleSettings:
    max_connections: int = 100  # IDLE connections this replica holds at most (0: no push)
    reissue_s: float = 1500.0  # DONE + IDLE after this long (25 min, below the 29-minute limit)
    lease_ttl: timedelta = timedelta(seconds=30)
    retry_s: float = 1.0  # first reconnect delay after a dropped connection, doubling
    retry_max_s: float = 300.0
    rest_s: float = 3600.0  # a server without IDLE is asked again after this long
    opening_at_once: int = 16  # logins in flight (a replica taking a thousand accounts at once)

    @property
    def round_s(self) -> float:
        return self.lease_ttl.total_seconds() / 3


@dataclass(frozen=True)
class Ended:
    """Why a watcher gave its account up by itself, and until when the account rests here."""

    reason: str
    config_version: str = ""
    until: float = 0.0


@dataclass
class _Rest:
    config_version: str
    until: float


def reconnect_delay(failures: int, first_s: float, max_s: float) -> float:
    """The wait before the `failures`-th reconnect: `first_s`, doubling, at most `max_s`."""
    doublings: int = min(max(failures - 1, 0), 32)
    return min(max_s, first_s * float(2**doublings))


def push_id(account_id: uuid.UUID, marker: str, now: float) -> str:
    """The `Nats-Msg-Id` of a push fetch: the account, what was seen (the message count or the
    UIDNEXT) and the minute. A repeat within the minute (a burst, a second replica seeing the same
    arrival) is dropped by JetStream; the same count a minute later is a new arrival."""
    return f"push.{account_id}.{marker}.{int(now // 60)}"


def resting(candidate: Candidate, rest: _Rest | None, now: float) -> bool:
    """Whether the candidate waits here: its rest has not run out and its configuration is unchanged."""
    return rest is not None and rest.config_version == candidate.config_version and now < rest.until


@dataclass
class IdleHolder:
    leases: IdleLeases
    connector: IdleConnector
    requests: FetchRequests
    tokens: TokenSource
    holder: str
    settings: IdleSettings = field(default_factory=IdleSettings)
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _watchers: dict[uuid.UUID, "asyncio.Task[Ended]"] = field(default_factory=dict, init=False)
    _rests: dict[uuid.UUID, _Rest] = field(default_factory=dict, init=False)
    idling: set[uuid.UUID] = field(default_factory=set, init=False)  # in IDLE now
    reconnects: int = field(default=0, init=False)  # connections lost and opened again
    _opening: asyncio.Semaphore = field(init=False)
    _versions: dict[uuid.UUID, str] = field(default_factory=dict, init=False)  # a watcher's configuration

    def __post_init__(self) -> None:
        self._opening = asyncio.Semaphore(self.settings.opening_at_once)

    @property
    def held(self) -> set[uuid.UUID]:
        """The accounts this replica idles (or reconnects) now."""
        return set(self._watchers)

    @property
    def watching(self) -> set[uuid.UUID]:
        """The held accounts whose watcher still runs (the others are let go at the next round)."""
        return {account_id for account_id, task in self._watchers.items() if not task.done()}

    async def run(self) -> None:
        """Rounds until cancelled; a failed round (the database away) is tried again next time."""
        while True:
            try:
                await self.round()
            except Exception as error:  # noqa: BLE001 - the next round tries again
                logger.warning("IDLE round failed, will retry: %s", error)
            await asyncio.sleep(self.settings.round_s)

    async def round(self) -> None:
        await self._settle_finished()
        await self._renew()
        await self._follow_changes()
        census = await self.leases.census(self.holder, self.settings.lease_ttl)
        target = min(self.settings.max_connections, math.ceil(census.accounts / max(census.replicas, 1)))
        await self._shed(target)
        await self._take(target)

    async def stop(self) -> None:
        """Close every IDLE connection and free the leases, so another replica takes them at once."""
        watchers, self._watchers = self._watchers, {}
        for task in watchers.values():
            task.cancel()
        await asyncio.gather(*watchers.values(), return_exceptions=True)
        try:
            if watchers:
                await self.leases.release(self.holder, list(watchers))
            await self.leases.leave(self.holder)
        except Exception as error:  # noqa: BLE001 - they expire by themselves
            logger.warning("releasing IDLE leases failed (they expire in time): %s", error)

    async def _settle_finished(self) -> None:
        finished = [account_id for account_id, task in self._watchers.items() if task.done()]
        for account_id in finished:
            task = self._watchers.pop(account_id)
            ended = Ended("stopped") if task.cancelled() else _ended(task)
            if ended.until > self.clock():
                self._rests[account_id] = _Rest(ended.config_version, ended.until)
            logger.info("IDLE ended: %s", ended.reason, extra={"account_id": str(account_id)})
        if finished:
            await self.leases.release(self.holder, finished)

    async def _renew(self) -> None:
        if not self._watchers:
            return
        kept = await self.leases.renew(self.holder, list(self._watchers), self.settings.lease_ttl)
        for account_id in set(self._watchers) - kept:
            logger.info("IDLE lease taken over by another replica", extra={"account_id": str(account_id)})
            self._watchers.pop(account_id).cancel()

    async def _shed(self, target: int) -> None:
        """Accounts above this replica's share are let go, for the replicas that hold fewer (one
        that just started) to take."""
        if len(self._watchers) <= target:
            return
        extra = list(self._watchers)[target:]
        for account_id in extra:
            logger.info("IDLE handed over: above this replica's share", extra={"account_id": str(account_id)})
            self._watchers.pop(account_id).cancel()
        await self.leases.release(self.holder, extra)

    async def _take(self, target: int) -> None:
        room = target - len(self._watchers)
        if room <= 0:
            return
        now = self.clock()
        self._rests = {a: r for a, r in self._rests.items() if now < r.until}
        found = await self.leases.candidates(room + len(self._rests))
        for candidate in found:
            if room <= 0:
                return
            account_id = candidate.account_id
            if account_id in self._watchers or resting(candidate, self._rests.get(account_id), now):
                continue
            if await self.leases.take(account_id, self.holder, self.settings.lease_ttl):
                self._start(account_id, candidate.config_version)
                room -= 1

    async def _follow_changes(self) -> None:
        """A held account that may no longer be pushed (`push` turned off, no longer IMAP, may not
        receive, gone) is let go; one whose configuration changed is watched again, anew."""
        if not self._watchers:
            return
        current = await self.leases.pushable(list(self._watchers))
        gone = [account_id for account_id in self._watchers if account_id not in current]
        for account_id in gone:
            logger.info("IDLE ended: no longer pushed", extra={"account_id": str(account_id)})
            self._watchers.pop(account_id).cancel()
        if gone:
            await self.leases.release(self.holder, gone)
        for account_id, version in current.items():
            if account_id in self._watchers and self._versions.get(account_id) != version:
                self._watchers.pop(account_id).cancel()
                self._start(account_id, version)

    def _start(self, account_id: uuid.UUID, config_version: str) -> None:
        self._versions[account_id] = config_version
        self._watchers[account_id] = asyncio.create_task(self._watch(account_id))

    async def _watch(self, account_id: uuid.UUID) -> Ended:
        """Keep the account in IDLE until it cannot be (returned) or the lease goes (cancelled)."""
        failures, last_uidnext = 0, None
        extra = {"account_id": str(account_id)}
        while True:
            account = await self.leases.account(account_id)
            if account is None:
                return Ended("the account no longer exists")
            try:
                login = partial(self.connector.logged_in, account)
                async with AsyncExitStack() as connection:
                    async with self._opening:
                        session = await connection.enter_async_context(signed_in(account, self.tokens, login))
                        if not session.offers_idle:
                            until = self.clock() + self.settings.rest_s
                            return Ended(
                                "the server does not offer IDLE: polled", account.config_version, until
                            )
                        uidnext = await session.watch(account.inbox_folder)
                    if last_uidnext is not None and uidnext != last_uidnext:  # mail while reconnecting
                        await self._push(account_id, f"u{uidnext}")
                    last_uidnext, failures = uidnext, 0
                    logger.info("IDLE on %s", account.inbox_folder, extra=extra)
                    self.idling.add(account_id)
                    try:
                        while True:
                            exists = await session.new_mail(self.settings.reissue_s)
                            await self._push(account_id, f"e{exists}")
                    finally:
                        self.idling.discard(account_id)
            except FetchFailure as failure:
                if failure.kind is not Kind.TRANSIENT:
                    return Ended(f"{failure.kind}: {failure.reason}", account.config_version, math.inf)
                reason = failure.reason
            except Exception as error:  # noqa: BLE001 - whatever a library raises: reconnect later
                reason = f"{type(error).__name__}: {error}"
            failures += 1
            self.reconnects += 1
            delay = reconnect_delay(failures, self.settings.retry_s, self.settings.retry_max_s)
            logger.warning("IDLE connection lost (%s); reconnecting in %g s", reason, delay, extra=extra)
            await asyncio.sleep(delay)

    async def _push(self, account_id: uuid.UUID, marker: str) -> None:
        try:
            await self.requests.push(account_id, push_id(account_id, marker, self.wall()))
        except Exception as error:  # noqa: BLE001 - the schedule still fetches the account
            logger.warning("publishing a push fetch failed: %s", error, extra={"account_id": str(account_id)})


def _ended(task: "asyncio.Task[Ended]") -> Ended:
    error = task.exception()
    if error is not None:
        return Ended(f"failed: {type(error).__name__}: {error}")
    return task.result()
