"""Composition root: settings → database, secrets, TLS trust, NATS → the fetcher's command
consumers (OAuth accounts' tokens asked of the broker over the same NATS connection), the outbox
relay, the closing of idle IMAP connections and the IMAP IDLE holder (#18)."""

import asyncio
import os
import socket
from datetime import timedelta

from faststream import FastStream
from mailbridge.common import outbox_relay
from mailbridge.common.budget import Budget
from mailbridge.common.consumers import CHANGES_QUEUE, FETCH_QUEUE
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.limits_kv import KvStore, limits_bucket
from mailbridge.common.messaging import GRACEFUL_TIMEOUT_S, connect, create_broker
from mailbridge.common.metrics_sampling import consumer_lag
from mailbridge.common.oauth_requests import BrokerTokens
from mailbridge.common.ops_http import OpsEndpoint, ops_server, service_readiness
from mailbridge.common.secrets import SecretBox, resolve_key_ring
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.common.streams import ensure_streams
from mailbridge.common.tls import client_context
from mailbridge.fetcher import subscribers
from mailbridge.fetcher.adapters.credential_incoming import IncomingChecks, sent_folders
from mailbridge.fetcher.adapters.idle_leases import IdleLeaseStore
from mailbridge.fetcher.adapters.imap_connections import ImapConnections
from mailbridge.fetcher.adapters.imap_idle import ImapIdleConnections
from mailbridge.fetcher.adapters.pop3 import Pop3Sessions
from mailbridge.fetcher.adapters.presented_certificate import PresentedCertificates
from mailbridge.fetcher.adapters.push_requests import BrokerFetchRequests
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.credential_requests import credential_requests
from mailbridge.fetcher.fetch_account import FetchDeps
from mailbridge.fetcher.idle_holder import IdleHolder, IdleSettings
from mailbridge.fetcher.settings import FetcherSettings
from mailbridge.fetcher.sync import Limits


def create_app(settings: FetcherSettings) -> FastStream:
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    secrets = SecretBox.from_ring(resolve_key_ring(key, settings.var_dir))
    engine = create_engine(settings.effective_database_url(settings.var_dir), settings.database_pool_size)
    sessions = create_session_factory(engine)
    broker = create_broker(settings.require_nats_url(), "fetcher", settings.nats_connect_timeout_s)
    limits = Limits(
        settings.fetch_batch_count, settings.fetch_batch_bytes, timedelta(seconds=settings.fetch_lease_ttl_s),
        settings.fetch_max_message_bytes, Budget(settings.fetch_bytes_in_flight),
    )  # fmt: skip
    limits_store = KvStore()  # #17: IMAP connections per login, shared by every replica; bound at startup
    shared_limits = SharedLimits(limits_store)
    connections = ImapConnections(
        settings.imap_keep_connections, settings.imap_connection_idle_s, limits=shared_limits,
        per_server=settings.imap_keep_connections_per_server,
    )  # fmt: skip
    deps = FetchDeps(
        MailStore(sessions, secrets), client_context(settings.extra_ca_file),
        holder=f"{socket.gethostname()}:{os.getpid()}", limits=limits, timeout_s=settings.fetch_timeout_s,
        connections=connections, pop3=Pop3Sessions(shared_limits),
        tokens=BrokerTokens(lambda: broker.connection, settings.oauth_token_timeout_s),
        certificates=PresentedCertificates(),
    )  # fmt: skip
    commands = subscribers.consumers(deps, settings.fetch_workers, settings.fetch_max_deliver)
    incoming = IncomingChecks(
        deps.store, deps.tokens, sent_folders(sessions), deps.ssl_context, deps.timeout_s,
        limits=shared_limits,
    )  # fmt: skip
    # T1: the credentials test's incoming check and receive (its connections hold shared slots, #17)
    credential_checks = credential_requests(incoming)
    idle_connections = ImapIdleConnections(deps.ssl_context, deps.timeout_s, shared_limits)  # slots too (#17)
    idle = IdleHolder(
        IdleLeaseStore(sessions, secrets), idle_connections,
        BrokerFetchRequests(broker, settings.nats_publish_timeout_s), deps.tokens, deps.holder,
        IdleSettings(settings.imap_idle_max, settings.imap_idle_reissue_s,
                     timedelta(seconds=settings.imap_idle_lease_ttl_s)),
    )  # fmt: skip
    app = FastStream(broker)
    background: list[asyncio.Task[None]] = []
    nats = lambda: broker.connection  # noqa: E731 - connected in startup, read on each probe
    ops = ops_server(
        settings,
        OpsEndpoint(service_readiness(engine, nats), [consumer_lag(nats, (FETCH_QUEUE, CHANGES_QUEUE))]),
    )  # /healthz, /readyz, /metrics (#15)

    @app.on_startup
    async def declare_streams() -> None:
        if ops is not None:
            await ops.start()  # first: /readyz answers 503 while NATS is connecting
        await connect(broker, settings.require_nats_url(), settings.nats_connect_timeout_s * 3)
        await ensure_streams(broker.connection.jetstream(), settings.nats_stream_replicas)
        limits_store.bind(await limits_bucket(broker.connection.jetstream(), settings.nats_stream_replicas))

    @app.after_startup
    async def start_work() -> None:
        timeout = settings.nats_publish_timeout_s
        background.append(asyncio.create_task(outbox_relay.relay_forever(sessions, broker, timeout)))
        background.append(asyncio.create_task(_close_idle_forever(connections)))
        background.append(asyncio.create_task(shared_limits.renew_forever()))
        js = broker.connection.jetstream()
        for consumer in commands:
            await consumer.start(js)
        await credential_checks.start(broker.connection)
        if settings.imap_idle_max:
            background.append(asyncio.create_task(idle.run()))  # #18 IMAP IDLE push

    @app.on_shutdown
    async def stop() -> None:
        # the fetches in flight finish; the rest are redelivered
        await asyncio.gather(*(consumer.stop(GRACEFUL_TIMEOUT_S) for consumer in commands))
        await credential_checks.stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await idle.stop()
        await connections.close_all()
        await engine.dispose()
        if ops is not None:
            await ops.stop()

    return app


async def _close_idle_forever(connections: ImapConnections, every_s: float = 60.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        await connections.close_idle()
