"""The mail store in SQL: account configuration, leases, sync cursors, messages, fetch state.

A fetch run takes its lease with the cursors, and records its outcome with the release,
atomically (`fetch_runs`: a transaction on SQLite, one statement each on PostgreSQL). Every write
in between runs in one transaction that first renews the lease by its token (the fence,
`leases`), then stores messages and adds their MailFetched outbox rows (`new_messages`) and
advances the cursor (`cursors`), or marks messages removed on the server (`removed_messages`).
"""

import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from mailbridge.common.db.mailstore import Pop3Seen, StoredMessage
from mailbridge.common.db.types import utcnow
from mailbridge.common.events import MailboxReset
from mailbridge.common.metrics import MESSAGE_BYTES_STORED
from mailbridge.common.outbox_relay import INSERT_EVENTS, enqueue
from mailbridge.common.secrets import SecretBox
from mailbridge.fetcher.adapters import (
    cursors,
    fetch_runs,
    flag_changes,
    leases,
    new_messages,
    removed_messages,
)
from mailbridge.fetcher.fetch_record import FetchRecord
from mailbridge.fetcher.model import AccountConfig, FetchStart, Lease, MessageLocation, NewMessage, Refusal
from mailbridge.fetcher.removals import Reconciled
from mailbridge.fetcher.summary import Summary, summarize_batch
from mailbridge.fetcher.sync_plan import Cursor
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

DECRYPTED_PASSWORDS_KEPT = 4096
UIDLS_PER_QUERY = 5000  # bound parameters per statement (asyncpg takes at most 32767)


def _uidl_chunks(uidls: Iterable[str]) -> Iterator[list[str]]:
    """The UIDLs, sorted, in lists of at most UIDLS_PER_QUERY: one IN list a statement."""
    wanted = sorted(uidls)
    for start in range(0, len(wanted), UIDLS_PER_QUERY):
        yield wanted[start : start + UIDLS_PER_QUERY]


class MailStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox) -> None:
        self._sessions = sessions
        # Decrypted once per stored ciphertext (a changed password is a new ciphertext): Fernet
        # costs more than the rest of a no-change poll's configuration read.
        self._decrypt = lru_cache(maxsize=DECRYPTED_PASSWORDS_KEPT)(secrets.decrypt)

    async def load_account(self, account_id: uuid.UUID) -> AccountConfig | None:
        async with self._sessions() as session:
            return await fetch_runs.account_config(session, self._decrypt, account_id)

    # Fetch runs and leases ------------------------------------------------------------------

    async def begin_fetch(
        self, account_id: uuid.UUID, holder: str, ttl: timedelta, refuse: Refusal
    ) -> FetchStart:
        """Configuration, last outcome, lease and cursors."""
        async with self._fetch_run() as session:
            return await fetch_runs.start(session, self._decrypt, account_id, holder, ttl, refuse)

    async def end_fetch(self, lease: Lease, outcome: FetchRecord | None) -> None:
        """Record the outcome (if any) and release the lease, atomically."""
        async with self._fetch_run() as session:
            await fetch_runs.end(session, lease, outcome)

    @asynccontextmanager
    async def _fetch_run(self) -> AsyncIterator[AsyncSession]:
        """A session for a fetch run's start or end: on PostgreSQL without BEGIN and COMMIT (two
        round trips), as each of those statements is atomic by itself (`pg_fetch_runs`); on
        SQLite, where there are no round trips to save, one transaction."""
        async with self._sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                yield session
            else:
                async with session.begin():
                    yield session

    async def acquire_lease(self, account_id: uuid.UUID, holder: str, ttl: timedelta) -> Lease | None:
        async with self._sessions() as session, session.begin():
            return await leases.take(session, account_id, holder, ttl)

    async def renew_lease(self, lease: Lease, ttl: timedelta) -> None:
        """The lease for `ttl` more (the fetch's heartbeat), or `LeaseLost`."""
        async with self._sessions() as session, session.begin():
            await leases.fence(session, lease, ttl)

    async def release_lease(self, lease: Lease) -> None:
        async with self._sessions() as session, session.begin():
            await leases.release(session, lease)

    # IMAP -----------------------------------------------------------------------------------

    async def store_batch(
        self,
        lease: Lease,
        ttl: timedelta,
        account: AccountConfig,
        messages: list[NewMessage],
        cursor: tuple[str, Cursor] | None = None,
        summaries: list[Summary] | None = None,
    ) -> int:
        """Store messages not stored yet, advance the cursor, queue MailFetched — atomically.

        A message already stored under the same identity is skipped; one whose bytes are
        already stored in the same folder under another UIDVALIDITY (after a reset) or by a
        reload is re-based onto the new identity instead of stored twice. `summaries` (of
        every message, in order) may have been made beforehand.
        """
        if summaries is None:
            summaries = await summarize_batch([item.raw for item in messages])
        async with self._sessions() as session, session.begin():
            await leases.fence(session, lease, ttl)
            stored, size = await self._insert(session, account, messages, summaries)
            if cursor is not None:
                await cursors.save(session, account.account_id, *cursor)
        MESSAGE_BYTES_STORED.inc(size)  # committed
        return stored

    async def _insert(
        self,
        session: AsyncSession,
        account: AccountConfig,
        messages: list[NewMessage],
        summaries: list[Summary],
    ) -> tuple[int, int]:
        """Inserts the messages not stored yet; returns how many and their bytes."""
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        known = await new_messages.stored_keys(session, account.account_id, messages)
        may_rebase = await new_messages.has_other_uidvalidity(session, account.account_id, messages)
        now = utcnow()
        for item, summary in zip(messages, summaries, strict=True):
            if new_messages.key(item) in known:
                continue
            known.add(new_messages.key(item))
            if may_rebase and await self._rebased(session, account, item, summary.sha256):
                continue
            row, event = new_messages.new_rows(account, item, summary, now)
            rows.append(row)
            events.append(event)
            if item.uidl is not None:
                await session.merge(Pop3Seen(account_id=account.account_id, uidl=item.uidl))
        if rows:  # Core bulk inserts: the ORM's unit of work costs more than the bytes
            await session.execute(new_messages.INSERT_MESSAGES, rows)
            await session.execute(INSERT_EVENTS, events)
        return len(rows), sum(row["size"] for row in rows)

    async def _rebased(
        self, session: AsyncSession, account: AccountConfig, item: NewMessage, sha256: str
    ) -> bool:
        """After a UIDVALIDITY change: move a stored copy of these bytes onto the new identity."""
        stale = await session.scalar(
            select(StoredMessage)
            .where(
                StoredMessage.account_id == account.account_id,
                StoredMessage.folder == item.folder,
                StoredMessage.sha256 == sha256,
                StoredMessage.uidvalidity != item.uidvalidity,
            )
            .limit(1)
        )
        if stale is None:
            return False
        stale.uidvalidity, stale.uid = item.uidvalidity, item.uid
        return True

    async def update_flags(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, folder: str,
        changes: list[tuple[int, tuple[str, ...]]], cursor: Cursor,
    ) -> int:  # fmt: skip
        """Flags read on the server → the store: only messages whose flags differ are written
        and counted (`flag_changes`); the folder's cursor moves on in the same transaction."""
        async with self._sessions() as session, session.begin():
            await leases.fence(session, lease, ttl)
            changed = await flag_changes.apply(
                session, account.account_id, folder, cursor.uidvalidity, changes
            )
            await cursors.save(session, account.account_id, folder, cursor)
        return changed

    async def reset_folder(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, folder: str, old: int, new: int
    ) -> None:
        """UIDVALIDITY changed: restart the folder's cursor and say so (MailboxReset)."""
        async with self._sessions() as session, session.begin():
            await leases.fence(session, lease, ttl)
            await cursors.save(session, account.account_id, folder, Cursor(new, 0, None))
            enqueue(session, MailboxReset(
                account_id=account.account_id, folder=folder, old_uidvalidity=old, new_uidvalidity=new
            ))  # fmt: skip

    async def count_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> int:
        """Stored messages of the folder's UIDVALIDITY not marked removed on the server."""
        async with self._sessions() as session:
            return await removed_messages.count(session, account_id, folder, uidvalidity)

    async def uids_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> list[int]:
        """Their UIDs."""
        async with self._sessions() as session:
            return await removed_messages.uids(session, account_id, folder, uidvalidity)

    async def mark_removed(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, folder: str, uidvalidity: int,
        gone: list[int], reconciled: Reconciled,
    ) -> int:  # fmt: skip
        """The server no longer has these UIDs: mark their stored messages (kept, bytes and all)
        and queue MailRemovedOnServer, and keep how this look left the folder, atomically; how
        many were marked."""
        async with self._sessions() as session, session.begin():
            await leases.fence(session, lease, ttl)
            await removed_messages.keep_reconciled(session, account.account_id, folder, reconciled)
            return await removed_messages.mark(session, account, folder, uidvalidity, gone, utcnow())

    async def message_location(self, message_id: uuid.UUID) -> MessageLocation | None:
        async with self._sessions() as session:
            found = await session.get(StoredMessage, message_id)
        if found is None:
            return None
        return MessageLocation(found.id, found.account_id, found.folder, found.uidvalidity, found.uid)

    async def moved(
        self, lease: Lease, ttl: timedelta, message_id: uuid.UUID, folder: str,
        uidvalidity: int | None, uid: int | None,
    ) -> None:  # fmt: skip
        """The server moved the message: it now lives in `folder` under a new identity."""
        async with self._sessions() as session, session.begin():
            await leases.fence(session, lease, ttl)
            await session.execute(
                update(StoredMessage)
                .where(StoredMessage.id == message_id)
                .values(folder=folder, uidvalidity=uidvalidity, uid=uid)
            )

    # POP3 -----------------------------------------------------------------------------------

    async def known_uidls(self, account_id: uuid.UUID) -> set[str]:
        async with self._sessions() as session:
            rows = await session.scalars(select(Pop3Seen.uidl).where(Pop3Seen.account_id == account_id))
            return set(rows)

    async def stored_under_subjects(
        self, account_id: uuid.UUID, uidls: set[str], subjects: set[str]
    ) -> list[tuple[str, bytes]]:
        """(UIDL, bytes) of the stored POP3 messages among `uidls` whose subject is one of
        `subjects`: one query on the POP3 identity index, bytes read only for those few."""
        found: list[tuple[str, bytes]] = []
        async with self._sessions() as session:
            for chunk in _uidl_chunks(uidls):
                rows = await session.execute(
                    select(StoredMessage.uidl, StoredMessage.raw).where(
                        StoredMessage.account_id == account_id,
                        StoredMessage.uidl.in_(chunk),
                        StoredMessage.subject.in_(subjects),
                    )
                )
                found += [(uidl, raw) for uidl, raw in rows if uidl is not None]
        return found

    async def replace_stand_in(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, message: NewMessage
    ) -> int:
        """#11: the real message for a UIDL under which a server's stand-in was stored (before
        stand-ins were recognised): the stand-in's row gives way to it, in one transaction."""
        summaries = await summarize_batch([message.raw])
        async with self._sessions() as session, session.begin():
            await leases.fence(session, lease, ttl)
            await session.execute(
                delete(StoredMessage).where(
                    StoredMessage.account_id == account.account_id, StoredMessage.uidl == message.uidl
                )
            )
            stored, size = await self._insert(session, account, [message], summaries)
        MESSAGE_BYTES_STORED.inc(size)  # committed
        return stored

    async def first_seen(self, account_id: uuid.UUID, uidls: set[str]) -> dict[str, datetime]:
        """When each of `uidls` that was downloaded was first downloaded (S12 counts from then);
        what is to be deleted is decided by `pop3_deletion` (S11/S12)."""
        found: dict[str, datetime] = {}
        async with self._sessions() as session:
            for chunk in _uidl_chunks(uidls):
                rows = await session.execute(
                    select(Pop3Seen.uidl, Pop3Seen.first_seen_at).where(
                        Pop3Seen.account_id == account_id,
                        Pop3Seen.uidl.in_(chunk),
                    )
                )
                found.update((uidl, seen) for uidl, seen in rows)
        return found
