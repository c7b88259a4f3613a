"""`mailbridge outbox verify`: the G6 check from the settings and MAILBRIDGE_VAR_DIR alone.

The database comes from MAILBRIDGE_DATABASE_URL (else the data folder's SQLite), the seal keys
from MAILBRIDGE_SEAL_KEY (else the data folder's `seal.key`), the checkpoints from NATS:
MAILBRIDGE_NATS_URL, else the running `mailbridge run`'s embedded server (var/nats-url), else,
with the system stopped, an embedded server started briefly on the data folder's JetStream
store (`var/jetstream`), the very store the checkpoints were written to. The checkpoints are
read from the stream itself rather than from a copy kept in a file: a second copy would be a
second truth, and one that an attacker on that host could edit more easily than the stream.

Exit 0: intact; 1: broken (the first broken position and row named); 2: the check could not run.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TextIO

import nats
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.outbox_checkpoints import CheckpointLog, read_checkpoints
from mailbridge.common.outbox_verify import ChainVerdict, verify_outbox
from mailbridge.common.seal_keys import resolve_seal_keys
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.launcher.nats_address import NoNatsUrl, nats_url
from nats.errors import Error as NatsError

JETSTREAM_STORE = "jetstream"  # where `mailbridge run` keeps the embedded server's store


async def verify(settings: ConfigApiSettings, out: TextIO) -> int:
    configured = settings.seal_key.get_secret_value() if settings.seal_key else None
    keys = resolve_seal_keys(configured, settings.var_dir)
    async with _audit_nats(settings) as url:
        log = await _checkpoints(url, settings.nats_connect_timeout_s) if url else CheckpointLog(False)
    engine = create_engine(settings.effective_database_url(settings.var_dir))
    try:
        verdict = await verify_outbox(create_session_factory(engine), keys, log)
    finally:
        await engine.dispose()
    print(report(verdict), file=out)
    return 0 if verdict.intact else 1


def report(verdict: ChainVerdict) -> str:
    counts = (
        f"{verdict.sealed_rows} sealed rows ({verdict.legacy_rows} sealed before seal keys), "
        f"{verdict.checkpoints} checkpoints (the highest at position {verdict.checkpointed_seq})"
    )
    if verdict.intact:
        return f"outbox chain intact: {counts}"
    where = f" at position {verdict.first_broken_seq}" if verdict.first_broken_seq else ""
    row = f", row {verdict.first_altered_id}" if verdict.first_altered_id else ""
    return f"outbox chain BROKEN{where}{row}: {verdict.reason}\n{counts}"


async def _checkpoints(url: str, timeout_s: float) -> CheckpointLog:
    client = await nats.connect(
        url, connect_timeout=timeout_s, max_reconnect_attempts=0, allow_reconnect=False
    )
    try:
        return await read_checkpoints(client.jetstream())
    finally:
        await client.close()


@asynccontextmanager
async def _audit_nats(settings: ConfigApiSettings) -> AsyncIterator[str | None]:
    """The URL of a NATS holding the audit stream; None when there is no store at all."""
    if settings.nats_url:
        yield settings.nats_url
        return
    try:
        running = nats_url(None, settings.var_dir)
        await _probe(running, settings.nats_connect_timeout_s)
        yield running
        return
    except (NoNatsUrl, NatsError, OSError, TimeoutError):
        pass  # stopped (a var/nats-url left by a killed run points nowhere)
    store = settings.var_dir / JETSTREAM_STORE
    if not store.is_dir():
        yield None
        return
    embedded = await asyncio.to_thread(start_embedded_nats, Path(store))
    try:
        yield embedded.url
    finally:
        await asyncio.to_thread(embedded.stop)


async def _probe(url: str, timeout_s: float) -> None:
    client = await nats.connect(
        url, connect_timeout=timeout_s, max_reconnect_attempts=0, allow_reconnect=False
    )
    await client.close()
