"""`mailbridge outbox verify` (G6): exit 0 on an intact chain, 1 naming the first break, 2 when
it cannot check; with the system stopped it reads the checkpoints from the data folder's
JetStream store (an embedded server started briefly on it) and the key from `seal.key`."""

import os
import subprocess
import sys
from pathlib import Path

import nats
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.seal_keys import SEAL_KEY_FILE, SealKeys, generate_seal_key
from mailbridge.common.streams import ensure_streams
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.sealed_outbox import publish_checkpoints, seal_rows, write_as_attacker
from sqlalchemy import delete, update


def verify(var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it: its own process, only MAILBRIDGE_* from `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    clean |= {"MAILBRIDGE_VAR_DIR": str(var_dir), **env}
    command = [sys.executable, "-m", "mailbridge.launcher.cli", "outbox", "verify"]
    return subprocess.run(command, env=clean, capture_output=True, text=True, timeout=120, check=False)


async def test_verify_with_the_system_stopped_from_the_data_folder_alone(tmp_path: Path) -> None:
    """The embedded default: SQLite, `seal.key` and the JetStream store all in the data folder;
    nothing running. Deleting the newest sealed rows is caught from the stored checkpoints."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    key = generate_seal_key()
    (var_dir / SEAL_KEY_FILE).write_text(key + "\n")
    database_url = f"sqlite+aiosqlite:///{var_dir / 'mailbridge.db'}"
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    account_id = (await add_account(sessions)).account_id
    server = start_embedded_nats(var_dir / "jetstream")
    try:
        client = await nats.connect(server.url)
        await ensure_streams(client.jetstream())
        _, first = await seal_rows(sessions, SealKeys([key]), account_id, 2)
        newest, second = await seal_rows(sessions, SealKeys([key]), account_id, 2)
        await publish_checkpoints(client.jetstream(), [first, second])
        await client.close()
    finally:
        server.stop()
    intact = verify(var_dir)
    assert (intact.returncode, intact.stdout.splitlines()[0]) == (0, "outbox chain intact: 4 sealed rows "
        "(0 sealed before seal keys), 2 checkpoints (the highest at position 4)"), intact.stderr  # fmt: skip
    await write_as_attacker(sessions, delete(OutboxMessage).where(OutboxMessage.id.in_(newest)))
    await engine.dispose()
    broken = verify(var_dir)
    assert broken.returncode == 1, broken.stderr
    assert broken.stdout.startswith(
        "outbox chain BROKEN at position 3: the chain ends at position 2 but a checkpoint confirms "
        f"position 4 (row {newest[1]}): the newest sealed rows were deleted"
    )


async def test_verify_names_a_changed_body_on_either_database(
    database_url: str, nats_url: str, tmp_path: Path
) -> None:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    key = generate_seal_key()
    env = {
        "MAILBRIDGE_DATABASE_URL": database_url,
        "MAILBRIDGE_NATS_URL": nats_url,
        "MAILBRIDGE_SEAL_KEY": key,
    }
    try:
        ids, head = await seal_rows(sessions, SealKeys([key]), (await add_account(sessions)).account_id, 3)
        client = await nats.connect(nats_url)
        await ensure_streams(client.jetstream())
        await publish_checkpoints(client.jetstream(), [head])
        await client.close()
        assert verify(tmp_path, **env).returncode == 0
        await write_as_attacker(
            sessions, update(OutboxMessage).where(OutboxMessage.id == ids[1]).values(raw=b"x")
        )
        broken = verify(tmp_path, **env)
        assert broken.returncode == 1
        assert broken.stdout.startswith(
            f"outbox chain BROKEN at position 2, row {ids[1]}: its seal does not match"
        )
        no_key = verify(tmp_path, **(env | {"MAILBRIDGE_SEAL_KEY": ""}))
        assert (no_key.returncode, no_key.stderr.strip()) == (
            2, f"mailbridge outbox: no seal key: set MAILBRIDGE_SEAL_KEY or create {tmp_path / SEAL_KEY_FILE} "
            "(`make run` does)",
        )  # fmt: skip
    finally:
        await empty_tables(sessions)
        await engine.dispose()
