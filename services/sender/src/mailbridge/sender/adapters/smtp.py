"""SMTP over aiosmtplib: connect (S4: none, STARTTLS, implicit TLS), AUTH (S5), one transaction.

aiosmtplib upgrades with STARTTLS on its own whenever the server offers it (its default
`start_tls=None`) and silently goes on in clear when the server does not, after which `login()`
would send the password in clear. So every connection is opened with `start_tls=False` and the
upgrade is decided here: `auto` upgrades when offered, and with AUTH on refuses to go on
without it. Certificates are always checked with the given SSLContext.

The transaction is driven command by command (MAIL, RCPT each, DATA) rather than through
`sendmail`, to keep every recipient's reply and to know whether DATA was reached: a pooled
connection that turns out dead before DATA can be replaced without any risk of a second copy.
A connection lost during or after DATA is only reported (temporary): the server may have taken
the mail, so a retry can deliver it twice, as with any SMTP client.
"""

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiosmtplib import (
    SMTP,
    SMTPAuthenticationError,
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPStatus,
    SMTPTimeoutError,
)
from mailbridge.common.addresses import is_plain_address
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Built, Delivery, DeliveryOutcome
from mailbridge.sender.smtp_replies import (
    RecipientReply,
    SmtpResult,
    all_refused,
    failed,
    network_reason,
    replied,
)

# Logs in on a connected (and, where wanted, encrypted) client. The seam for XOAUTH2: an
# Authenticate that fetches a token and calls `client.auth_xoauth2(target.login, token)`.
Authenticate = Callable[[SMTP, SmtpTarget], Awaitable[None]]


class SmtpFailure(Exception):
    """A send that cannot go on, with its classification and a reason a person understands."""

    def __init__(self, result: SmtpResult) -> None:
        super().__init__(result.reply)
        self.result = result


class DeadBeforeData(Exception):
    """The connection was lost before DATA: nothing was handed over, a new connection may retry."""


async def password_login(client: SMTP, target: SmtpTarget) -> None:
    if target.password is None:
        raise SmtpFailure(failed(DeliveryOutcome.PERMANENT, f"no password stored for {target.login}"))
    await client.login(target.login, target.password)


def where(target: SmtpTarget) -> str:
    return f"[{target.host}]:{target.port}" if ":" in target.host else f"{target.host}:{target.port}"


async def open_client(
    target: SmtpTarget, tls: ssl.SSLContext, timeout_s: float, authenticate: Authenticate = password_login,
    local_hostname: str | None = None,
) -> SMTP:  # fmt: skip
    """A connected, encrypted as configured and logged-in client; SmtpFailure otherwise."""
    if target.encryption not in ("none", "auto", "ssl"):
        raise SmtpFailure(failed(DeliveryOutcome.PERMANENT, f"unknown SMTP encryption {target.encryption!r}"))
    client = SMTP(
        hostname=target.host, port=target.port, timeout=timeout_s, use_tls=target.encryption == "ssl",
        start_tls=False, tls_context=tls, local_hostname=local_hostname,
    )  # fmt: skip
    try:
        await client.connect()
        if target.encryption == "auto":
            await client.ehlo()
            if client.supports_extension("starttls"):
                await client.starttls()
                await client.ehlo()  # RFC 3207 §4.2: what was said before TLS no longer counts
            elif target.auth:
                raise SmtpFailure(failed(
                    DeliveryOutcome.PERMANENT,
                    f"{where(target)} does not offer STARTTLS; refusing to send the password in clear",
                ))  # fmt: skip
        if target.auth:
            await authenticate(client, target)
    except BaseException as error:
        client.close()  # cancelled too: a half-done greeting, upgrade or login is never reused
        if isinstance(error, Exception) and not isinstance(error, SmtpFailure):
            raise SmtpFailure(explain(error, target, "connect")) from error
        raise
    return client


async def transact(client: SMTP, built: Built) -> SmtpResult:
    """One mail over an open client. DeadBeforeData when the connection was gone before DATA."""
    try:
        await _mail(client, built.envelope_from, _size_option(client, built.raw))
        replies = [await _rcpt(client, address) for address in built.envelope_to]
    except SMTPServerDisconnected as error:
        raise DeadBeforeData(str(error)) from error
    except SMTPResponseException as error:
        await _reset(client)
        return replied(error.code, error.message, f"sender {built.envelope_from} refused")
    if not any(reply.outcome is DeliveryOutcome.SENT for reply in replies):
        await _reset(client)
        return all_refused(replies)
    try:
        response = await _data(client, built.raw)
    except SMTPResponseException as error:
        await _reset(client)
        refusal = replied(error.code, error.message, "message refused")
        return SmtpResult(refusal.outcome, refusal.reply, tuple(replies))
    return SmtpResult(DeliveryOutcome.SENT, str(response), tuple(replies))


async def _data(client: SMTP, raw: bytes) -> SMTPResponse:
    """DATA. Bytes that are CRLF throughout (what `mime` builds) are dot-stuffed here with one
    `bytes.replace` and written through aiosmtplib's protocol; aiosmtplib's own `data()` runs two
    regular-expression passes over the whole message, the sender's largest cost per mail. Other
    bytes (an old row, a bare LF) take aiosmtplib's way, which repairs the line ends."""
    protocol = client.protocol
    if protocol is None or raw.count(b"\n") != raw.count(b"\r\n") or raw.count(b"\r") != raw.count(b"\r\n"):
        return await client.data(raw)
    # RFC 5321 §4.5.2: a line that starts with "." gets one more; the data ends with CRLF "." CRLF.
    stuffed = (b"." if raw.startswith(b".") else b"") + raw.replace(b"\r\n.", b"\r\n..")
    stuffed += b".\r\n" if stuffed.endswith(b"\r\n") or not stuffed else b"\r\n.\r\n"
    try:
        protocol.write(b"DATA\r\n")
        start = await protocol.read_response(timeout=client.timeout)
        if start.code != SMTPStatus.start_input:
            raise SMTPDataError(start.code, start.message)
        protocol.write(stuffed)
        response = await protocol.read_response(timeout=client.timeout)
    except (SMTPServerDisconnected, SMTPTimeoutError):
        client.close()  # as aiosmtplib's data() does: the connection's state is unknown
        raise
    if response.code != SMTPStatus.completed:
        raise SMTPDataError(response.code, response.message)
    return response


def explain(error: Exception, target: SmtpTarget, phase: str) -> SmtpResult:
    """Every aiosmtplib (and socket) failure as a classified result with a readable reason."""
    at = where(target)
    if isinstance(error, SmtpFailure):
        return error.result
    if isinstance(error, SMTPAuthenticationError):
        return replied(error.code, error.message, f"login as {target.login} at {at} rejected")
    if isinstance(error, SMTPRecipientsRefused):  # only from sendmail-style calls; kept for completeness
        return all_refused(RecipientReply(r.recipient, r.code, r.message) for r in error.recipients)
    if isinstance(error, SMTPResponseException):
        return replied(error.code, error.message, f"{at} answered during {phase}")
    if isinstance(error, SMTPTimeoutError):
        return failed(DeliveryOutcome.TEMPORARY, f"timed out during {phase} with {at}: {error}")
    if isinstance(error, SMTPServerDisconnected) and error.__cause__ is None:
        return failed(DeliveryOutcome.TEMPORARY, f"{at} closed the connection during {phase}: {error}")
    if isinstance(error, OSError):  # aiosmtplib's connect errors wrap the socket's (DNS, TLS, refused)
        return failed(DeliveryOutcome.TEMPORARY, network_reason(error, at))
    if isinstance(error, ValueError):  # an address aiosmtplib cannot put on the wire (non-ASCII, quoting)
        return failed(DeliveryOutcome.PERMANENT, f"cannot be sent to {at}: {error}")
    if isinstance(error, SMTPException):  # e.g. AUTH not offered: only a configuration change helps
        return failed(DeliveryOutcome.PERMANENT, f"{at} during {phase}: {error}")
    return failed(DeliveryOutcome.TEMPORARY, f"{phase} with {at} failed: {type(error).__name__}: {error}")


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
        return failed(DeliveryOutcome.TEMPORARY, f"{where(target)} closed the connection: {error}")
    except Exception as error:  # noqa: BLE001 - every failure becomes a classified result
        return explain(error, target, "the transaction")
    finally:
        await quit_quietly(client)


async def quit_quietly(client: SMTP) -> None:
    if client.is_connected:
        try:
            await client.quit()
        except (SMTPException, OSError, TimeoutError):
            client.close()


async def _mail(client: SMTP, address: str, options: list[str]) -> None:
    """MAIL FROM, written straight through `execute_command` where `_as_is` allows."""
    quoted = _as_is(client, address)
    if quoted is None:
        await client.mail(address, options=options)
        return
    response = await client.execute_command(b"MAIL", b"FROM:" + quoted, *[o.encode("ascii") for o in options])
    if response.code != SMTPStatus.completed:
        raise SMTPSenderRefused(response.code, response.message, address)


async def _rcpt(client: SMTP, address: str) -> RecipientReply:
    """RCPT TO, the same way as `_mail`; a refusal is a reply, not an exception."""
    quoted = _as_is(client, address)
    if quoted is None:
        try:
            response = await client.rcpt(address)
        except SMTPRecipientRefused as refused:
            return RecipientReply(address, refused.code, refused.message)
    else:
        response = await client.execute_command(b"RCPT", b"TO:" + quoted)
    return RecipientReply(address, response.code, response.message)


def _as_is(client: SMTP, address: str) -> bytes | None:
    """`<address>` for a plain address on a greeted connection: what aiosmtplib's `mail()` and
    `rcpt()` would write after parsing it again with `parseaddr` (`is_plain_address`: the same
    result). None: leave it to them (they greet first and quote what needs it)."""
    if client.is_ehlo_or_helo_needed or not is_plain_address(address):
        return None
    return b"<" + address.encode("ascii") + b">"


async def _reset(client: SMTP) -> None:
    """RSET after a refusal, so the connection can carry the next mail; a dead one is dropped."""
    if client.is_connected:
        try:
            await client.rset()
        except (SMTPException, OSError, TimeoutError):
            client.close()


def _size_option(client: SMTP, raw: bytes) -> list[str]:
    # RFC 1870: a server that knows the size can refuse an oversized mail before the data.
    return [f"SIZE={len(raw)}"] if client.supports_extension("size") else []


PoolKey = tuple[str, int, str, bool, str]


class _Places:
    """A semaphore whose bound can be changed while it is in use: the mails sending at once over
    one key. Places are given in the order they were asked for."""

    def __init__(self, limit: int) -> None:
        self.limit, self.taken = limit, 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self.taken < self.limit and not self._waiting:
            self.taken += 1
            return
        place = asyncio.get_running_loop().create_future()
        self._waiting.append(place)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():  # given a place, then cancelled: pass it on
                self._leave()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._leave()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _leave(self) -> None:
        self.taken -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiting and self.taken < self.limit:
            place = self._waiting.popleft()
            if not place.done():
                self.taken += 1
                place.set_result(None)


@dataclass
class _Lane:
    """One key's connections: the places for mails sending at once, the idle connections (last
    used last), and how many are open or being opened."""

    places: _Places
    idle: list[tuple[SMTP, asyncio.TimerHandle]] = field(default_factory=list)
    connections: int = 0


class SmtpPool:
    """Up to `per_key` logged-in connections per (host, port, encryption, auth, login), reused
    while mail is queued and quit after `idle_s` without work. Implements the `Mailer` port.

    A server that allows fewer connections per client answers the one too many with a 4xx
    (`421 too many connections`). When that happens while other connections of the key are
    open, the key's bound comes down to those and the mail waits for one of them instead of
    failing; the bound goes back to `per_key` once every connection of the key is closed.
    """

    def __init__(
        self, tls: ssl.SSLContext, *, timeout_s: float = 30.0, per_key: int = 4, idle_s: float = 5.0,
        authenticate: Authenticate = password_login, local_hostname: str | None = None,
    ) -> None:  # fmt: skip
        self._tls, self._timeout_s, self._per_key, self._idle_s = tls, timeout_s, per_key, idle_s
        self._authenticate, self._local_hostname = authenticate, local_hostname
        self._lanes: dict[PoolKey, _Lane] = {}
        self._quitting: set[asyncio.Task[None]] = set()

    async def deliver(
        self, target: SmtpTarget, raw: bytes, envelope_from: str, envelope_to: tuple[str, ...]
    ) -> Delivery:
        return (await self.send(target, Built(raw, "", envelope_from, envelope_to))).delivery()

    async def send(self, target: SmtpTarget, built: Built) -> SmtpResult:
        key = (target.host.lower(), target.port, target.encryption, target.auth, target.login)
        lane = self._lanes.setdefault(key, _Lane(_Places(self._per_key)))
        while True:
            async with lane.places:
                reused = self._take_idle(lane)
                if reused is not None:
                    result = await self._attempt(lane, reused, target, built)
                    if result is not None:
                        return result
                lane.connections += 1
                try:
                    client = await open_client(
                        target, self._tls, self._timeout_s, self._authenticate, self._local_hostname
                    )
                except SmtpFailure as failure:
                    self._forget(lane)
                    if not (lane.connections and _refused_for_now(failure)):
                        return failure.result
                    lane.places.set_limit(lane.connections)  # the server's limit: wait for one it took
                    continue
                except BaseException:
                    self._forget(lane)
                    raise
                result = await self._attempt(lane, client, target, built)
                return result or failed(DeliveryOutcome.TEMPORARY, f"{where(target)} closed the connection")

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

    def _forget(self, lane: _Lane) -> None:
        """One connection fewer; with none left, the key's full bound returns."""
        lane.connections -= 1
        if lane.connections == 0 and lane.places.limit != self._per_key:
            lane.places.set_limit(self._per_key)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._quitting.add(task)
        task.add_done_callback(self._quitting.discard)


def _refused_for_now(failure: SmtpFailure) -> bool:
    """A 4xx reply while connecting, greeting or logging in: how a server at its limit says so."""
    cause = failure.__cause__
    return isinstance(cause, SMTPResponseException) and 400 <= cause.code < 500
