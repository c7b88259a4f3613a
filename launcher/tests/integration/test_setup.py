"""`mailbridge setup`: the deployments' one-shot set-up job (docker-compose.yml's `setup`,
deploy/k8s's Job) takes the path `mailbridge run` takes before its services start: the database
migrated, every stream and every work queue's durable consumer in JetStream, and the shared
limits' KV bucket (#17)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from mailbridge.common.consumers import (
    ALL_QUEUES,
    AUTO_REPLY_QUEUE,
    CHANGES_QUEUE,
    FETCH_LEASE_TTL_S,
    FETCH_QUEUE,
    SEND_QUEUE,
    fetch_ack_wait_s,
)
from mailbridge.common.db.engine import create_engine
from mailbridge.common.limits_kv import KEEP_S, LIMITS_BUCKET, limits_bucket_config
from mailbridge.common.streams import ALL_STREAMS, ensure_streams
from mailbridge.testkit.nats import nats_server
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine


def setup(var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`mailbridge setup` as a job runs it: its own process, only MAILBRIDGE_* from `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    clean |= {"MAILBRIDGE_VAR_DIR": str(var_dir), **env}
    command = [sys.executable, "-m", "mailbridge.launcher.cli", "setup"]
    return subprocess.run(command, env=clean, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def fresh_nats() -> Iterator[str]:
    """A NATS server of this test's own: nothing declared in its JetStream yet."""
    with nats_server() as url:
        yield url


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_setup_migrates_and_declares_streams_and_durables(
    empty_database_url: str, fresh_nats: str, tmp_path: Path
) -> None:
    env = {
        "MAILBRIDGE_DATABASE_URL": empty_database_url, "MAILBRIDGE_NATS_URL": fresh_nats,
        "MAILBRIDGE_FETCH_MAX_DELIVER": "7", "MAILBRIDGE_SEND_ACK_WAIT_S": "300",
        "MAILBRIDGE_FETCH_LEASE_TTL_S": "10",
    }  # fmt: skip
    done = setup(tmp_path, **env)
    assert done.returncode == 0, done.stderr
    durables = done.stdout.split("durables ")[1].split(";")[0].strip().split(", ")
    assert sorted(durables) == sorted(f"{q.stream.name}/{q.durable}" for q in ALL_QUEUES)  # each once

    engine = create_engine(empty_database_url)
    try:
        assert {"alembic_version", "mail_accounts", "oauth_grants", "outbox_messages"} <= await _tables(
            engine
        )
    finally:
        await engine.dispose()
    connection = await nats.connect(fresh_nats)
    try:
        js = connection.jetstream()
        assert {(await js.stream_info(spec.name)).config.name for spec in ALL_STREAMS} == {
            "MAILBRIDGE_FETCH", "MAILBRIDGE_SEND", "MAILBRIDGE_EVENTS", "MAILBRIDGE_AUDIT"
        }  # fmt: skip
        for queue in (FETCH_QUEUE, CHANGES_QUEUE):  # the fetcher's own maximum deliveries
            info = await js.consumer_info(queue.stream.name, queue.durable)
            assert info.config.max_deliver == 7
            assert info.config.filter_subject == queue.command.subject
        fetch = await js.consumer_info(FETCH_QUEUE.stream.name, FETCH_QUEUE.durable)
        assert fetch.config.ack_wait == fetch_ack_wait_s(10) == 15  # follows the fetcher's lease
        sender = await js.consumer_info(SEND_QUEUE.stream.name, SEND_QUEUE.durable)
        assert sender.config.ack_wait == 300  # the sender's own ack wait
        egress = await js.consumer_info("MAILBRIDGE_SEND", "sender-egress")
        assert egress.config.filter_subject != sender.config.filter_subject
        replies = await js.consumer_info(AUTO_REPLY_QUEUE.stream.name, AUTO_REPLY_QUEUE.durable)
        assert replies.config.filter_subject == AUTO_REPLY_QUEUE.command.subject
        # #17: the shared limits' bucket, as the services declare it (they create it only if missing)
        assert done.stdout.rstrip().endswith(f"buckets {LIMITS_BUCKET}")
        bucket = await (await js.key_value(LIMITS_BUCKET)).status()
        declared = limits_bucket_config()
        assert (bucket.history, bucket.ttl, declared.history, declared.ttl) == (1, KEEP_S, 1, KEEP_S)
        assert bucket.stream_info.config.allow_direct is True
    finally:
        await connection.close()

    again = setup(tmp_path, **{**env, "MAILBRIDGE_FETCH_MAX_DELIVER": "3"})
    assert again.returncode == 0, again.stderr  # the next deploy, with another setting
    connection = await nats.connect(fresh_nats)
    try:
        updated = await connection.jetstream().consumer_info(FETCH_QUEUE.stream.name, FETCH_QUEUE.durable)
        assert (updated.config.max_deliver, updated.config.ack_wait) == (3, 15)  # applied in place
    finally:
        await connection.close()


async def test_setup_brings_a_durable_of_an_older_version_up_to_its_declaration(
    empty_database_url: str, fresh_nats: str, tmp_path: Path
) -> None:
    """The fetch durable's ack wait was 120 s before it followed the lease (#15): an upgrade's
    set-up updates the existing durable in place, keeping what it holds."""
    connection = await nats.connect(fresh_nats)
    try:
        js = connection.jetstream()
        await ensure_streams(js)
        older = FETCH_QUEUE.config(ack_wait_s=120.0)
        older.name = older.durable_name = FETCH_QUEUE.durable
        older.filter_subject = FETCH_QUEUE.command.subject
        await js.add_consumer(FETCH_QUEUE.stream.name, config=older)
        await js.publish(FETCH_QUEUE.command.subject, b"{}")  # a command waiting in it
        done = setup(tmp_path, MAILBRIDGE_DATABASE_URL=empty_database_url, MAILBRIDGE_NATS_URL=fresh_nats)
        assert done.returncode == 0, done.stderr
        info = await js.consumer_info(FETCH_QUEUE.stream.name, FETCH_QUEUE.durable)
        assert info.config.ack_wait == fetch_ack_wait_s(FETCH_LEASE_TTL_S) == FETCH_QUEUE.ack_wait_s
        assert info.num_pending == 1, "the same durable, its command still queued"
    finally:
        await connection.close()


def test_setup_without_nats_is_a_clear_error(tmp_path: Path) -> None:
    failed = setup(tmp_path, MAILBRIDGE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/m.db")
    assert failed.returncode == 2
    assert "MAILBRIDGE_NATS_URL" in failed.stderr
    assert "Traceback" not in failed.stderr
