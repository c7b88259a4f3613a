"""Sending mail over SMTP: one mail over a connection of its own (`send`), or many over pooled,
logged-in connections (`SmtpPool`, the `Mailer` the sender uses). One connection's conversation
is `smtp_session`'s.

A connection whose conversation went wrong (timed out, closed, answered something that is not
a reply) is closed and never goes back to the pool; one that finished its transaction, or got a
refusal and took the RSET after it, is kept idle for the next mail.

With `limits` (#17) every connection also holds a slot of its server and login shared by every
sender replica (`common.shared_limits`): at most `smtp_connections_per_login` of the server's
limits, and what the server showed by refusing one connection more (learned for every replica,
until none holds a connection there). A mail that finds no slot waits for one of its process's
own connections, or, with none, looks again after a short while.
"""

import asyncio
import logging
import random
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiosmtplib import SMTP, SMTPResponseException
from mailbridge.common.budget import Budget
from mailbridge.common.connection_slots import slot_key
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.sender.adapters.smtp_session import (
    Authenticate,
    DeadBeforeData,
    SmtpFailure,
    explain,
    open_client,
    password_login,
    quit_quietly,
    transact,
    where,
)
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Built, Delivery
from mailbridge.sender.smtp_replies import SmtpResult, failed


async def send(
    target: SmtpTarget, built: Built, tls: ssl.SSLContext, timeout_s: float = 30.0,
    authenticate: Authenticate = password_login,
) -> SmtpResult:  # fmt: skip
    """One mail over a connection of its own (see `SmtpPool` for many)."""
    try:
        client = await open_client(target, tls, timeout_s, authenticate)
    except SmtpFailure as failure:
        return failure.result
    try:
        return await transact(client, built)
    except DeadBeforeData as error:
        return failed(Verdict.RETRY, f"{where(target)} closed the connection: {error}")
    except Exception as error:  # noqa: BLE001 - every failure becomes a classified result
        return explain(error, target, "the transaction")
    finally:
        await quit_quietly(client)


logger = logging.getLogger(__name__)
PoolKey = tuple[str, int, str, bool, str, str]


@dataclass
class _Lane:
    """One key's connections: the places for mails sending at once, the idle connections (last
    used last), and how many are open or being opened."""

    places: Budget  # weight 1 a mail; the limit comes down to what the server allows
    idle: list[tuple[SMTP, asyncio.TimerHandle]] = field(default_factory=list)
    connections: int = 0
    slots: list[str] = field(default_factory=list)  # shared slots (#17), one per connection
    slot_key: str = ""


class SmtpPool:
    """Up to `per_key` logged-in connections per (host, port, encryption, auth, login, and the
    account for an OAuth login), reused
    while mail is queued and quit after `idle_s` without work. Implements the `Mailer` port.

    A server that allows fewer connections per client answers the one too many with a 4xx
    (`421 too many connections`). When that happens while other connections of the key are
    open, the key's bound comes down to those and the mail waits for one of them instead of
    failing; the bound goes back to `per_key` once every connection of the key is closed.
    """

    def __init__(
        self, tls: ssl.SSLContext, *, timeout_s: float = 30.0, per_key: int = 4, idle_s: float = 5.0,
        authenticate: Authenticate = password_login, local_hostname: str | None = None,
        limits: SharedLimits | None = None, slot_wait_s: float = 1.0,
    ) -> None:  # fmt: skip
        self._tls, self._timeout_s, self._per_key, self._idle_s = tls, timeout_s, per_key, idle_s
        self._limits, self._slot_wait_s = limits, slot_wait_s
        self._authenticate, self._local_hostname = authenticate, local_hostname
        self._lanes: dict[PoolKey, _Lane] = {}
        self._quitting: set[asyncio.Task[None]] = set()

    async def deliver(
        self, target: SmtpTarget, raw: bytes, envelope_from: str, envelope_to: tuple[str, ...]
    ) -> Delivery:
        return (await self.send(target, Built(raw, "", envelope_from, envelope_to))).delivery()

    async def send(self, target: SmtpTarget, built: Built) -> SmtpResult:
        # an OAuth login is one account's (S2): its connections are never another's
        owner = str(target.account_id) if target.oauth else ""
        key = (target.host.lower(), target.port, target.encryption, target.auth, target.login, owner)
        lane = self._lanes.get(key) or self._lanes.setdefault(
            key, _Lane(Budget(self._per_key), slot_key=_slot_key(key))
        )
        while True:
            await lane.places.acquire(1)  # not `hold()`: its context manager costs 2 µs a mail
            try:
                result = await self._send_in_place(lane, target, built)
            finally:
                lane.places.release(1)
            if result is not None:
                return result

    async def _send_in_place(self, lane: _Lane, target: SmtpTarget, built: Built) -> SmtpResult | None:
        """The mail over an idle connection or a new one; None: the server refused a new one
        for now, and the key's bound came down to the connections it took (try again)."""
        reused = self._take_idle(lane)
        if reused is not None:
            result = await self._attempt(lane, reused, target, built)
            if result is not None:
                return result
        if not await self._take_slot(lane, target):
            return None
        lane.connections += 1
        try:
            client = await open_client(
                target, self._tls, self._timeout_s, self._authenticate, self._local_hostname
            )
        except SmtpFailure as failure:
            if not (lane.connections > 1 and _refused_for_now(failure)):
                self._forget(lane)
                return failure.result
            await self._learn(lane)
            return None
        except BaseException:
            self._forget(lane)
            raise
        result = await self._attempt(lane, client, target, built)
        return result or failed(Verdict.RETRY, f"{where(target)} closed the connection")

    async def close(self) -> None:
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            while lane.idle:
                client, timer = lane.idle.pop()
                timer.cancel()
                await quit_quietly(client)
        await asyncio.gather(*self._quitting)

    async def _attempt(
        self, lane: _Lane, client: SMTP, target: SmtpTarget, built: Built
    ) -> SmtpResult | None:
        """The transaction's result, the client kept for the next mail; None: it was dead before DATA."""
        try:
            result = await transact(client, built)
        except DeadBeforeData:
            self._discard(lane, client)
            return None
        except Exception as error:  # noqa: BLE001 - every failure becomes a classified result
            self._discard(lane, client)
            return explain(error, target, "the transaction")
        except BaseException:  # cancelled mid-conversation: the connection's state is unknown
            self._discard(lane, client)
            raise
        if client.is_connected:
            timer = asyncio.get_running_loop().call_later(self._idle_s, self._expire, lane, client)
            lane.idle.append((client, timer))
        else:
            self._discard(lane, client)
        return result

    def _take_idle(self, lane: _Lane) -> SMTP | None:
        while lane.idle:
            client, timer = lane.idle.pop()
            timer.cancel()
            if client.is_connected:
                return client
            self._discard(lane, client)
        return None

    def _expire(self, lane: _Lane, client: SMTP) -> None:
        lane.idle = [(c, t) for c, t in lane.idle if c is not client]
        self._spawn(quit_quietly(client))
        self._forget(lane)

    def _discard(self, lane: _Lane, client: SMTP) -> None:
        client.close()
        self._forget(lane)

    def _forget(self, lane: _Lane, slot_given_back: bool = False) -> None:
        """One connection fewer (and its shared slot); with none left, the key's full bound returns."""
        lane.connections -= 1
        if lane.connections == 0 and lane.places.limit != self._per_key:
            lane.places.set_limit(self._per_key)
        if self._limits is not None and lane.slots and not slot_given_back:
            self._spawn(self._limits.give_back(lane.slot_key, lane.slots.pop()))

    async def _learn(self, lane: _Lane) -> None:
        """The server refused one connection more: the key's bound comes down to the connections it
        took, in this process and (#17) for every replica: the slots all of them hold, counted once
        this refused connection's slot is given back."""
        shared = self._limits is not None and bool(lane.slots)
        if self._limits is not None and lane.slots:
            try:
                await self._limits.give_back(lane.slot_key, lane.slots.pop())
                await self._limits.learn(lane.slot_key)
            except Exception as error:  # noqa: BLE001 - NATS away: this process's bound still comes down
                logger.warning("could not share the limit the server showed: %s", error)
        self._forget(lane, slot_given_back=shared)
        lane.places.set_limit(lane.connections)  # the server's limit: wait for one it took

    async def _take_slot(self, lane: _Lane, target: SmtpTarget) -> bool:
        """A shared connection slot for one more connection (#17); False: none free now, and the
        mail waits for a connection of this process, or a while (try again)."""
        if self._limits is None:
            return True
        try:
            slot = await self._limits.take_slot(lane.slot_key, target.limits.smtp_connections_per_login)
        except Exception as error:  # noqa: BLE001 - NATS away: the process's own bound still holds
            logger.warning("shared connection slots unavailable, counting this process only: %s", error)
            return True
        if slot is not None:
            lane.slots.append(slot)
            return True
        if lane.connections:
            lane.places.set_limit(lane.connections)
        else:
            await asyncio.sleep(self._slot_wait_s * (0.5 + random.random()))
        return False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._quitting.add(task)
        task.add_done_callback(self._quitting.discard)


def _slot_key(key: PoolKey) -> str:
    host, port, _, _, login, owner = key
    return slot_key("smtp", host, port, login, owner)


def _refused_for_now(failure: SmtpFailure) -> bool:
    """A 4xx reply while connecting, greeting or logging in: how a server at its limit says so."""
    cause = failure.__cause__
    return isinstance(cause, SMTPResponseException) and 400 <= cause.code < 500
