"""Helpers for the sender tests: outbox mails, targets, and `FaultySmtpServer` for fault injection.

`FaultySmtpServer` is aiosmtpd on 127.0.0.1 (after GNU Mailman's testing/mta.py) that answers
what it is told to next, per stage (MAIL, RCPT, DATA), or drops the connection; it keeps every
byte it received, so a test can prove what a client did not send (a password).
"""

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import OutgoingMail, SmtpTarget
from mailbridge.sender.ports import Delivery
from mailbridge.testkit.config_rows import AccountRows, add_account, empty_tables
from mailbridge.testkit.ports import free_port
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

DROP = "drop"  # instead of a reply: close the connection without answering


def outgoing(sender: str, to: tuple[str, ...], **fields: Any) -> OutgoingMail:
    return OutgoingMail(
        outbox_id=fields.pop("outbox_id", uuid.uuid4()), from_address=sender, alias=fields.pop("alias", None),
        reply_to=fields.pop("reply_to", None), to=to, subject=fields.pop("subject", f"test {uuid.uuid4().hex[:8]}"),
        text=fields.pop("text", "Hello.\n"), message_id_domain="mailbridge.test", **fields,
    )  # fmt: skip


@asynccontextmanager
async def account_database(
    database_url: str, smtp_port: int, **account: Any
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], AccountRows]]:
    """The database migrated and emptied, with one account sending to 127.0.0.1:`smtp_port`
    (`account`: add_account's other arguments); its engine disposed at the end."""
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    rows = await add_account(sessions, smtp_host=f"127.0.0.1:{smtp_port}", **account)
    try:
        yield sessions, rows
    finally:
        await engine.dispose()


async def queue_mail(
    sessions: async_sessionmaker[AsyncSession],
    account_id: uuid.UUID,
    *to: str,
    max_attempts: int = 3,
    subject: str = "Hi",
) -> uuid.UUID:
    """An outbox row written straight to the database, as config-api queues one."""
    async with sessions() as session:
        row = OutboxMessage(
            account_id=account_id, request={"to": list(to), "subject": subject, "text": "Hello"},
            max_attempts=max_attempts,
        )  # fmt: skip
        session.add(row)
        await session.commit()
        return row.id


async def outbox_row(sessions: async_sessionmaker[AsyncSession], outbox_id: uuid.UUID) -> OutboxMessage:
    async with sessions() as session:
        found = await session.get(OutboxMessage, outbox_id)
        assert found is not None
        return found


def plain_target(port: int, *, encryption: str = "none", auth: bool = False, password: str | None = None,
                 login: str = "nobody") -> SmtpTarget:  # fmt: skip
    return SmtpTarget("127.0.0.1", port, encryption, auth, login, password)


def delivered(stack: MailStack, user: MailUser, folder: str = "INBOX") -> list[bytes]:
    """The raw messages in the user's folder, read over IMAP without setting \\Seen."""
    with stack.imap(user) as session:
        status, count = session.select(f'"{folder}"', readonly=True)
        if status != "OK" or count[0] == b"0":
            return []
        _, data = session.fetch("1:*", "(BODY.PEEK[])")
    return [part[1] for part in data if isinstance(part, tuple)]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


@dataclass
class _State:
    faults: dict[str, deque[str]] = field(
        default_factory=lambda: {s: deque() for s in ("MAIL", "RCPT", "DATA")}
    )
    refused: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    wire: bytearray = field(default_factory=bytearray)
    connections: int = 0
    open: int = 0
    most_open: int = 0
    max_connections: int | None = None  # beyond it: "421 too many connections" and closed
    auth_attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, stage: str, server: SMTP) -> str | None:
        with self.lock:
            reply = self.faults[stage].popleft() if self.faults[stage] else None
        if reply == DROP:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()  # abort, not close: close would still flush what is written next
            return "421 dropped"  # never reaches the client
        return reply


class _Handler:
    def __init__(self, state: _State) -> None:
        self.state = state

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if reply := self.state.fault("MAIL", server):
            return reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if reply := self.state.fault("RCPT", server) or self.state.refused.get(address.lower()):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if reply := self.state.fault("DATA", server):
            return reply
        with self.state.lock:
            self.state.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content)
            )
        return "250 2.0.0 queued"


class _RecordingSmtp(SMTP):
    state: _State

    accepted = False

    def connection_made(self, transport: Any) -> None:
        with self.state.lock:
            self.state.connections += 1
            limit = self.state.max_connections
            self.accepted = limit is None or self.state.open < limit
            if self.accepted:
                self.state.open += 1
                self.state.most_open = max(self.state.most_open, self.state.open)
        super().connection_made(transport)
        if not self.accepted:  # answered before aiosmtpd's own greeting goes out
            transport.write(b"421 4.7.0 Too many connections from your host\r\n")
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        with self.state.lock:
            self.state.open -= 1 if self.accepted else 0
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        with self.state.lock:
            self.state.wire += data
        super().data_received(data)

    async def smtp_AUTH(self, arg: str) -> None:
        with self.state.lock:
            self.state.auth_attempts += 1
        await super().smtp_AUTH(arg)


class _RecordingController(Controller):
    def __init__(self, state: _State, port: int, server_kwargs: dict[str, Any]) -> None:
        super().__init__(
            _Handler(state), hostname="127.0.0.1", port=port, server_hostname="faulty.test", **server_kwargs
        )
        self.state = state

    def factory(self) -> SMTP:
        server = _RecordingSmtp(self.handler, **self.SMTP_kwargs)
        server.state = self.state
        return server


class FaultySmtpServer:
    """aiosmtpd in a thread on 127.0.0.1; `fail_next`, `refuse`, then read what it recorded."""

    def __init__(self, *, offer_auth: bool = False, max_connections: int | None = None) -> None:
        self._state = _State(max_connections=max_connections)
        kwargs: dict[str, Any] = {}
        if offer_auth:  # AUTH offered on a plain connection, with no STARTTLS: a trap for clients
            kwargs |= {"auth_require_tls": False, "authenticator": lambda *a: AuthResult(success=True)}
        self.port = free_port("127.0.0.1")
        self._controller = _RecordingController(self._state, self.port, kwargs)

    def start(self) -> "FaultySmtpServer":
        self._controller.start()
        with self._state.lock:  # the controller's own readiness probe is not a client
            self._state.connections, self._state.wire = 0, bytearray()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> "FaultySmtpServer":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    def fail_next(self, stage: str, *replies: str) -> None:
        """The next answers at `stage` ("MAIL", "RCPT" or "DATA"): a reply line, or DROP."""
        with self._state.lock:
            self._state.faults[stage].extend(replies)

    def allow(self, max_connections: int | None) -> None:
        """From now on refuse connections beyond `max_connections` (None: no limit)."""
        with self._state.lock:
            self._state.max_connections = max_connections

    def refuse(self, address: str, reply: str = "550 5.1.1 no such user") -> None:
        """Refuse this recipient at RCPT, every time."""
        self._state.refused[address.lower()] = reply

    def accept(self, address: str) -> None:
        """Take this recipient again (after `refuse`)."""
        self._state.refused.pop(address.lower(), None)

    @property
    def received(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def wire(self) -> bytes:
        """Everything clients sent, as bytes."""
        with self._state.lock:
            return bytes(self._state.wire)

    @property
    def connections(self) -> int:
        return self._state.connections

    @property
    def most_open(self) -> int:
        """The most connections it held open at once (those it refused not counted)."""
        return self._state.most_open

    @property
    def auth_attempts(self) -> int:
        return self._state.auth_attempts


class CountingMailer:
    """A `Mailer` that takes every mail (250) and counts them: what a limit let through."""

    def __init__(self) -> None:
        self.sent = 0

    async def deliver(
        self, target: SmtpTarget, raw: bytes, envelope_from: str, envelope_to: tuple[str, ...]
    ) -> Delivery:
        self.sent += 1
        return Delivery(Verdict.DONE, "250 ok")
