"""Helpers for the fetcher's interoperability matrix: accounts on any `InteropServer`, the corpus
of messages every server gets, and what the store and the server hold afterwards."""

import poplib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from fetcher_testing import StoreWorld
from mailbridge.common.db.mailstore import FetchState, FolderSyncState
from mailbridge.testkit.config_rows import add_account
from mailbridge.testkit.imap_seed import ImapSeeder
from mailbridge.testkit.interop import InteropLogin, InteropServer, client_context
from sqlalchemy import select

LARGE_BYTES = 2 * 1024 * 1024


def plain(index: int, to: str) -> bytes:
    return (
        f"From: Sender <sender{index}@example.org>\r\nTo: {to}\r\nSubject: Message {index}\r\n"
        f"Message-ID: <i{index}.{uuid.uuid4().hex}@example.org>\r\n"
        f"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nHello {index}\r\n"
    ).encode()


def eight_bit(index: int, to: str) -> bytes:
    """Raw UTF-8 in the headers (RFC 6532), as mail from many real senders arrives."""
    return (
        f"From: Jörg Müller <joerg{index}@example.org>\r\nTo: Zoë Ångström <{to}>\r\n"
        f"Subject: Grüße aus Köln – Prüfung {index} ✓\r\n"
        f"Message-ID: <u{index}.{uuid.uuid4().hex}@example.org>\r\n"
        "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Schöne Grüße, {index}\r\n"
    ).encode()


def large(index: int, to: str, size: int = LARGE_BYTES) -> bytes:
    """A message of about `size` bytes: a base64-looking attachment in 76-character lines."""
    line = (b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0" * 2)[:76]
    body = (line + b"\r\n") * (size // 78)
    head = (
        f"From: Sender <big{index}@example.org>\r\nTo: {to}\r\nSubject: Large {index}\r\n"
        f"Message-ID: <l{index}.{uuid.uuid4().hex}@example.org>\r\n"
        "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    return head + body


def pop3_count(server: InteropServer, login: InteropLogin) -> int:
    """How many messages the maildrop holds, by POP3's STAT over implicit TLS."""
    client = poplib.POP3_SSL(server.host, server.ports.pop3s, context=client_context(server), timeout=30)
    try:
        client.user(login.address)
        client.pass_(login.password)
        return int(client.stat()[0])
    finally:
        client.quit()


def server_messages(server: InteropServer, login: InteropLogin, folder: str) -> dict[int, bytes]:
    """Every message of `folder` on the server by UID, as the server holds it."""
    with ImapSeeder(server, login) as seeder:
        return {uid: seeder.fetch_raw(folder, uid) for uid in seeder.uids(folder)}


@dataclass
class InteropWorld(StoreWorld):
    """A migrated store, the fetcher's deps trusting the matrix's CA, and the server under test."""

    server: InteropServer

    def seeder(self, login: InteropLogin) -> ImapSeeder:
        return ImapSeeder(self.server, login)

    def with_max_message_bytes(self, limit: int) -> "InteropWorld":
        """The same world with a smaller maximum message size (`Limits.max_message_bytes`)."""
        limits = replace(self.deps.limits, max_message_bytes=limit)
        return replace(self, deps=replace(self.deps, limits=limits))

    async def account(
        self, login: InteropLogin, protocol: str = "imap", *, folders: Iterable[str] = (),
        **fields: object,
    ) -> uuid.UUID:  # fmt: skip
        """A server row (implicit TLS to the server's IMAPS or POP3S port) and an account for
        `login` syncing INBOX and `folders` (full names), written straight to the database."""
        port = self.server.ports.pop3s if protocol == "pop3" else self.server.ports.imaps
        server: dict[str, object] = {
            k: fields.pop(k) for k in ("delete_after_fetch", "delete_after_days") if k in fields
        }
        rows = await add_account(
            self.sessions, incoming_host=f"{self.server.host}:{port}", incoming_protocol=protocol,
            login=login.address, address=login.address, password_encrypted=self.secrets.encrypt(login.password),
            server={"incoming_tls": True, "incoming_tls_mode": "implicit", **server},
            account={"sync_folders": list(folders), **fields},
        )  # fmt: skip
        return rows.account_id

    async def fetch_state(self, account_id: uuid.UUID) -> FetchState:
        async with self.sessions() as session:
            state = await session.get(FetchState, account_id)
        assert state is not None, "the fetch recorded no outcome"
        return state

    async def cursors(self, account_id: uuid.UUID) -> dict[str, FolderSyncState]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(FolderSyncState).where(FolderSyncState.account_id == account_id)
            )
            return {row.folder: row for row in rows}
