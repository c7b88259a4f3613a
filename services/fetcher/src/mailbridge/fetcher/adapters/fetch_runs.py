"""The database side of one fetch run: its start (configuration, last outcome, lease, cursors)
and its end (outcome and lease release, atomically).

A no-change poll is these two and one IMAP SELECT, so their statements are built once and
reused with bound values: Core statements on the tables (no ORM objects), the outcome written by
one upsert, and the stored password decrypted once per ciphertext (`Decrypt`). On PostgreSQL
lease and cursors come in one statement, outcome and release go in one (`pg_fetch_runs`): three
round trips in all instead of nine; on SQLite each runs in one transaction.
"""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.endpoints import (
    IncomingProtocol,
    incoming_endpoint,
)
from mailbridge.common.provider_limits import effective_limits
from mailbridge.fetcher.adapters import cursors, leases, outcomes, pg_fetch_runs
from mailbridge.fetcher.fetch_record import FetchRecord
from mailbridge.fetcher.model import INBOX, AccountConfig, FetchStart, LastOutcome, Lease, Refusal
from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

Decrypt = Callable[[str], str]


async def start(
    session: AsyncSession, decrypt: Decrypt, account_id: uuid.UUID, holder: str, ttl: timedelta,
    refuse: Refusal,
) -> FetchStart:  # fmt: skip
    found = (await session.execute(_START, {"p_account": account_id})).one_or_none()
    if found is None:
        return FetchStart()
    account = _config(found, decrypt)
    last = None if found.last_permanent is None else LastOutcome(
        found.last_permanent, found.last_config_version, found.last_reason, found.last_certificate
    )  # fmt: skip
    refusal = refuse(account, last)
    if refusal is not None:
        return FetchStart(account, refusal, last=last)
    if session.get_bind().dialect.name == "postgresql":
        lease, found_cursors = await pg_fetch_runs.take_lease_with_cursors(session, account_id, holder, ttl)
    else:
        lease = await leases.take(session, account_id, holder, ttl)
        found_cursors = {} if lease is None else await cursors.read(session, account_id)
    return FetchStart(account) if lease is None else FetchStart(account, None, lease, found_cursors)


async def end(session: AsyncSession, lease: Lease, record: FetchRecord | None) -> None:
    """Record the outcome (when there is one) and release the lease."""
    dialect = session.get_bind().dialect.name
    outcome = None if record is None else outcomes.values(record)
    if outcome is not None and dialect == "postgresql":
        await pg_fetch_runs.record_and_release(session, lease, outcome)
        return
    if outcome is not None:
        upsert = outcomes.record(outcomes.columns(outcome))[dialect]
        await session.execute(upsert, {"p_account": lease.account_id} | outcomes.bound_values(outcome))
    await leases.release(session, lease)


async def account_config(
    session: AsyncSession, decrypt: Decrypt, account_id: uuid.UUID
) -> AccountConfig | None:
    found = (await session.execute(_CONFIGURATION, {"p_account": account_id})).one_or_none()
    return None if found is None else _config(found, decrypt)


def _config(row: Row[*tuple[Any, ...]], decrypt: Decrypt) -> AccountConfig:
    endpoint = incoming_endpoint(
        row.incoming_host, row.incoming_protocol, row.incoming_tls, row.incoming_tls_mode
    )
    return AccountConfig(
        account_id=row.id,
        business_unit_id=row.business_unit_id,
        protocol=IncomingProtocol(row.incoming_protocol),
        host=endpoint.host,
        port=endpoint.port,
        security=endpoint.security,
        login=row.login,
        password=decrypt(row.password_encrypted) if row.password_encrypted else None,
        uses_oauth=row.oauth_provider_id is not None,
        inbox_folder=row.inbox_folder or INBOX,
        sync_folders=tuple(row.sync_folders or ()),
        delete_after_fetch=row.delete_after_fetch,
        delete_after_days=row.delete_after_days,
        can_receive=row.can_receive,
        config_version=f"{row.version}.{row.server_version}",
        trash_folder=row.trash_folder or row.server_trash_folder or "Trash",
        spam_folder=row.spam_folder or row.server_spam_folder or "Junk",
        oauth_state=row.oauth_state,
        oauth_reason=row.oauth_reason,
        imap_connections_per_login=effective_limits(  # #17: the server's, or its preset's
            row.limits_preset, {"imap_connections_per_login": row.imap_connections_per_login}
        ).imap_connections_per_login,
    )


_ACCOUNT, _SERVER, _STATE = (cast(Table, t.__table__) for t in (MailAccount, MailServer, FetchState))
_CONFIGURATION = (
    select(
        _ACCOUNT.c.id, _ACCOUNT.c.business_unit_id, _ACCOUNT.c.login, _ACCOUNT.c.password_encrypted,
        _ACCOUNT.c.inbox_folder, _ACCOUNT.c.sync_folders, _ACCOUNT.c.can_receive, _ACCOUNT.c.version,
        _ACCOUNT.c.trash_folder, _ACCOUNT.c.spam_folder, _ACCOUNT.c.oauth_state, _ACCOUNT.c.oauth_reason,
        _SERVER.c.incoming_protocol,
        _SERVER.c.incoming_host, _SERVER.c.incoming_tls, _SERVER.c.incoming_tls_mode,
        _SERVER.c.oauth_provider_id, _SERVER.c.delete_after_fetch, _SERVER.c.delete_after_days,
        _SERVER.c.version.label("server_version"), _SERVER.c.trash_folder.label("server_trash_folder"),
        _SERVER.c.spam_folder.label("server_spam_folder"), _SERVER.c.limits_preset,
        _SERVER.c.imap_connections_per_login,
    )
    .join_from(_ACCOUNT, _SERVER, _SERVER.c.id == _ACCOUNT.c.server_id)
    .where(_ACCOUNT.c.id == bindparam("p_account", type_=_ACCOUNT.c.id.type))
)  # fmt: skip
_START = _CONFIGURATION.add_columns(
    _STATE.c.permanent.label("last_permanent"), _STATE.c.config_version.label("last_config_version"),
    _STATE.c.reason.label("last_reason"), _STATE.c.certificate_sha256.label("last_certificate"),
).outerjoin(_STATE, _STATE.c.account_id == _ACCOUNT.c.id)  # fmt: skip
