"""#17: every mail waits its turn under its provider's limits, counted by every replica together
(`common.shared_limits` on NATS KV), around the SMTP pool: the `Mailer` the send use-case gets.

Before a mail goes: the pauses a throttling answer set for its mailbox and its server, then its
rates (the mailbox's messages a minute and a day, its recipients a day, the server's messages a
minute; whatever `SmtpTarget.limits` sets). A turn within `horizon_s`
(`MAILBRIDGE_SEND_LIMIT_WAIT_S`, a minute) is waited for here (the
claim is renewed meanwhile, and the attempt is a real one); a later one is not taken: the mail
is queued again with `retry_policy.limit_wait_reply`, which gives its attempt back and names when
to come again (spread over one more horizon, so a backlog for one mailbox comes back a few at a
time rather than all at once). After a throttling answer (`retry_policy.slows`) the mailbox,
or the whole server for a 421 with 4.7.x, is paused for every replica.

A mail to a server without limits still looks at the pauses, through a one-second cache, so the
common case costs no NATS round trip and a pause reaches every replica within a second. When the
limits cannot be read (NATS away), the mail is not sent blind: it is retried like a network
failure, naming the cause.
"""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from mailbridge.common.limit_rules import Rate
from mailbridge.common.shared_limits import Count, SharedLimits, scope_key
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Delivery, Mailer
from mailbridge.sender.retry_policy import (
    POLICIES,
    SEND_LIMIT_WAIT_S,
    RetryReason,
    Slows,
    limit_wait_reply,
    slows,
)

logger = logging.getLogger(__name__)
PAUSE_CACHE_S = 1.0
MAX_CACHED = 10_000  # mailboxes whose pause is cached
MINUTE, DAY = 60.0, 86_400.0


def mailbox_pause(target: SmtpTarget) -> str:
    return scope_key("pause", "mailbox", target.host, target.port, target.login)


def server_pause(target: SmtpTarget) -> str:
    return scope_key("pause", "server", target.host, target.port)


def counts_of(target: SmtpTarget, recipients: int) -> list[Count]:
    """The rates this mail counts against, from the server's limits (none: no rate)."""
    limits, mailbox = target.limits, (target.host, target.port, target.login)
    wanted = (
        ("mailbox-minute", mailbox, limits.messages_per_minute_per_mailbox, MINUTE, 1),
        ("mailbox-day", mailbox, limits.messages_per_day_per_mailbox, DAY, 1),
        ("recipients-day", mailbox, limits.recipients_per_day_per_mailbox, DAY, recipients),
        ("server-minute", (target.host, target.port), limits.messages_per_minute_per_server, MINUTE, 1),
    )
    return [
        Count(scope_key("rate", kind, *scope), Rate(limit, per_s), cost)
        for kind, scope, limit, per_s, cost in wanted
        if limit is not None
    ]


class LimitedMailer:
    def __init__(
        self, mailer: Mailer, limits: SharedLimits, horizon_s: float = SEND_LIMIT_WAIT_S,
        clock: Callable[[], float] = time.time, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        self._mailer, self._limits, self._horizon_s = mailer, limits, horizon_s
        self._clock, self._sleep = clock, sleep
        self._pauses: dict[str, tuple[float, float]] = {}  # key → (read at, paused until)

    async def deliver(
        self, target: SmtpTarget, raw: bytes, envelope_from: str, envelope_to: tuple[str, ...]
    ) -> Delivery:
        try:
            wait = await self._turn(target, len(envelope_to))
        except Exception as error:  # noqa: BLE001 - any failure of the store: retried later, named
            return Delivery(Verdict.RETRY, f"the shared provider limits could not be read: {error!r}")
        if isinstance(wait, Delivery):
            return wait
        if wait > 0:
            await self._sleep(wait)
        delivery = await self._mailer.deliver(target, raw, envelope_from, envelope_to)
        if delivery.outcome is Verdict.RETRY:
            await self._slow(target, delivery.reply)
        return delivery

    async def _turn(self, target: SmtpTarget, recipients: int) -> float | Delivery:
        """Seconds to wait for the mail's turn, or the Delivery that defers it."""
        now = self._clock()
        keys = (mailbox_pause(target), server_pause(target))
        paused = max([await self._paused_until(key, now) for key in keys])
        if paused - now > self._horizon_s:
            return self._later(paused, "the provider throttled this mailbox or server")
        at = max(now, paused)
        counts = counts_of(target, recipients)
        if counts:
            admission = await self._limits.admit(counts, [], self._horizon_s - (at - now))
            if not admission.reserved:  # spread over a horizon, so deferred mails do not return at once
                spread = random.uniform(0, self._horizon_s)
                return self._later(max(admission.at, at) + spread, "its rates are used up")
            at = max(at, admission.at)
        return at - now

    async def _paused_until(self, key: str, now: float) -> float:
        cached = self._pauses.get(key)
        if cached is not None and now - cached[0] < PAUSE_CACHE_S:
            return cached[1]
        pause = await self._limits.paused_until(key)
        until = pause.until if pause else 0.0
        if len(self._pauses) > MAX_CACHED:  # many mailboxes: forget what is too old to be used
            self._pauses = {k: v for k, v in self._pauses.items() if now - v[0] < PAUSE_CACHE_S}
        self._pauses[key] = (now, until)
        return until

    async def _slow(self, target: SmtpTarget, reply: str) -> None:
        whom = slows(reply)
        if whom is Slows.NOTHING:
            return
        key = server_pause(target) if whom is Slows.SERVER else mailbox_pause(target)
        try:
            pause = await self._limits.pause(key, POLICIES[RetryReason.THROTTLED].base_s)
        except Exception as error:  # noqa: BLE001 - the mail's own retry still waits its backoff
            logger.warning("could not pause the %s for every replica: %s", whom.value, error)
            return
        self._pauses[key] = (self._clock(), pause.until)

    @staticmethod
    def _later(at: float, why: str) -> Delivery:
        return Delivery(Verdict.RETRY, limit_wait_reply(datetime.fromtimestamp(at, UTC), why))
