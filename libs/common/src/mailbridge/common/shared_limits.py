"""Limits every replica shares: send rates, throttling pauses and connection slots, kept in a
compare-and-set store (`CasStore`: NATS KV in production, `limits_kv`; bench/limits.py measured it
against the database).

Each state is one small JSON value under one key, changed by read → compute (`limit_rules`) →
write-if-unchanged; a lost race reads again. Nothing holds a lock, so a replica that dies holds
nothing but its connection slots, and those expire (`lease_s`) unless renewed.

`admit` asks for a mail's turn under several rates at once (the mailbox's per minute and per day,
its recipients per day, the server's per minute) and the pauses set by throttling answers: the
units are taken for the earliest time all allow, if that is within `horizon_s` (the caller waits
for it); otherwise nothing is taken and the caller is told when to ask again (the mail waits its
turn outside the process, without spending an attempt). When two writes of one admission race
with another replica, the first bucket may lose a unit twice: limits err on the slow side.

Within a process the changes of one key take turns (a lock per key), so only replicas race each
other: 64 tasks of two instances on one key without it lost 50 races in a row (bench/limits.py).
A lost race waits a few random milliseconds before it reads again.

Keys are hashes of what they count (`scope_key`), so no login or host name is stored in NATS.
"""

import asyncio
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mailbridge.common.limit_rules import Pause, Rate, Slots, earliest, paused, taken

logger = logging.getLogger(__name__)
MAX_RACES = 50  # read-compute-write rounds before a lost race is an error
Read = tuple[bytes | None, int]  # a value and its revision
T = TypeVar("T")


class CasStore(Protocol):
    async def read(self, key: str) -> tuple[bytes | None, int]:
        """The value and its revision (0: never written)."""
        ...

    async def write(self, key: str, value: bytes, revision: int) -> bool:
        """Store `value` if the key is still at `revision`; False: another writer came first."""
        ...


@dataclass(frozen=True)
class Count:
    """One rate a mail counts against, and how many units it takes (1 mail, or its recipients)."""

    key: str
    rate: Rate
    cost: int = 1


@dataclass(frozen=True)
class Admission:
    at: float  # when the mail may go (epoch seconds)
    reserved: bool  # True: its units are taken for `at`; False: nothing taken, ask again at `at`


def scope_key(kind: str, *parts: object) -> str:
    """A store key for one counted thing: e.g. scope_key("rate", "mailbox", host, login)."""
    digest = hashlib.sha256("\x00".join(str(p).lower() for p in parts).encode()).hexdigest()[:32]
    return f"{kind}.{digest}"


class SharedLimits:
    def __init__(
        self, store: CasStore, clock: Callable[[], float] = time.time, lease_s: float = 60.0
    ) -> None:
        self._store, self._clock, self.lease_s = store, clock, lease_s
        self._holder = uuid.uuid4().hex[:16]
        self._slots = 0
        self._held: dict[str, set[str]] = {}  # slot key → this instance's slots there
        self._turns: dict[str, asyncio.Lock] = {}  # one change of a key at a time in this process

    def _turn(self, key: str) -> asyncio.Lock:
        return self._turns.setdefault(key, asyncio.Lock())

    async def admit(self, counts: Sequence[Count], pauses: Sequence[str], horizon_s: float) -> Admission:
        async with self._turn("|".join(count.key for count in counts)):
            return await self._admit(counts, pauses, horizon_s)

    async def _admit(self, counts: Sequence[Count], pauses: Sequence[str], horizon_s: float) -> Admission:
        for _ in range(MAX_RACES):
            now = self._clock()
            found = await asyncio.gather(*(self._store.read(count.key) for count in counts))
            stopped = await asyncio.gather(*(self._store.read(key) for key in pauses))
            at = now
            for count, (value, _) in zip(counts, found, strict=True):
                at = max(at, earliest(_tat(value), now, count.cost, count.rate))
            for value, _ in stopped:
                at = max(at, _pause(value).until if value else now)
            if at - now > horizon_s:
                return Admission(at, False)
            if await self._take(counts, found, at):
                return Admission(at, True)
            await _after_lost_race()
        raise RuntimeError(f"shared limits: lost {MAX_RACES} races in a row")

    async def _take(self, counts: Sequence[Count], found: Sequence[Read], at: float) -> bool:
        for count, (value, revision) in zip(counts, found, strict=True):
            new = taken(_tat(value), at, count.cost, count.rate)
            if not await self._store.write(count.key, _dump({"tat": new}), revision):
                return False
        return True

    async def pause(self, key: str, seconds: float) -> Pause:
        """A throttling answer: every replica waits `seconds` (or an earlier pause's end) for `key`."""

        def change(value: bytes | None) -> tuple[bytes, Pause]:
            pause = paused(_pause(value) if value else None, self._clock(), seconds)
            return _dump({"until": pause.until, "strikes": pause.strikes}), pause

        return await self._change(key, change)

    async def paused_until(self, key: str) -> Pause | None:
        value, _ = await self._store.read(key)
        return _pause(value) if value else None

    async def take_slot(self, key: str, limit: int | None) -> str | None:
        """A connection slot under `limit` (and a limit the server showed), or None: all are taken."""

        def change(value: bytes | None) -> tuple[bytes | None, str | None]:
            now = self._clock()
            slots = _slots(value).live(now)
            if not slots.fits(limit):
                return None, None
            self._slots += 1
            slot = f"{self._holder}-{self._slots}"
            return _dump_slots(Slots({**slots.holders, slot: now + self.lease_s}, slots.learned)), slot

        slot = await self._change(key, change)
        if slot is not None:
            self._held.setdefault(key, set()).add(slot)
        return slot

    async def give_back(self, key: str, slot: str) -> None:
        held = self._held.get(key, set())
        held.discard(slot)
        if not held:
            self._held.pop(key, None)

        def change(value: bytes | None) -> tuple[bytes | None, None]:
            slots = _slots(value).live(self._clock())
            if slot not in slots.holders:
                return None, None
            rest = {s: e for s, e in slots.holders.items() if s != slot}
            return _dump_slots(Slots(rest, slots.learned if rest else None)), None

        await self._change(key, change)

    async def learn(self, key: str) -> int:
        """The server refused one connection more: its limit is what every replica holds now."""

        def change(value: bytes | None) -> tuple[bytes | None, int]:
            slots = _slots(value).live(self._clock())
            learned = max(1, len(slots.holders))
            return _dump_slots(Slots(slots.holders, learned)), learned

        return await self._change(key, change)

    async def renew(self) -> int:
        """Move the expiry of every slot this instance holds; each key in one write."""
        for key, mine in list(self._held.items()):

            def change(value: bytes | None, mine: set[str] = mine) -> tuple[bytes | None, None]:
                now = self._clock()
                slots = _slots(value).live(now)
                holders = {**slots.holders, **{slot: now + self.lease_s for slot in mine}}
                return _dump_slots(Slots(holders, slots.learned)), None

            await self._change(key, change)
        return sum(len(mine) for mine in self._held.values())

    async def renew_forever(self) -> None:
        """Renew every third of the lease; a failed renewal (NATS away) is logged and tried again."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.renew()
            except Exception as error:  # noqa: BLE001 - the next round may succeed; slots expire meanwhile
                logger.warning("renewing connection slots failed: %s", error)

    async def _change(self, key: str, change: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        async with self._turn(key):
            for _ in range(MAX_RACES):
                value, revision = await self._store.read(key)
                new, result = change(value)
                if new is None or await self._store.write(key, new, revision):
                    return result
                await _after_lost_race()
        raise RuntimeError(f"shared limits: lost {MAX_RACES} races in a row on {key}")


async def _after_lost_race() -> None:
    await asyncio.sleep(random.uniform(0.001, 0.005))


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _tat(value: bytes | None) -> float:
    return float(json.loads(value)["tat"]) if value else 0.0


def _pause(value: bytes) -> Pause:
    found = json.loads(value)
    return Pause(float(found["until"]), int(found["strikes"]))


def _slots(value: bytes | None) -> Slots:
    if not value:
        return Slots({})
    found = json.loads(value)
    return Slots({str(k): float(v) for k, v in found["holders"].items()}, found.get("learned"))


def _dump_slots(slots: Slots) -> bytes:
    return _dump({"holders": slots.holders, "learned": slots.learned})
