"""Composition root: settings → database, secrets, TLS trust, SMTP pool (logging in with passwords
or with the OAuth broker's tokens over NATS), byte budget, NATS → the command consumer, the outbox
relay, claim renewal and the sweep."""

import asyncio
from datetime import timedelta

from faststream import FastStream
from mailbridge.common.budget import Budget
from mailbridge.common.consumers import AUTO_REPLY_QUEUE
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.types import utcnow
from mailbridge.common.limits_kv import KvStore, limits_bucket
from mailbridge.common.messaging import GRACEFUL_TIMEOUT_S, connect, create_broker
from mailbridge.common.metrics_sampling import consumer_lag
from mailbridge.common.oauth_requests import BrokerTokens
from mailbridge.common.ops_http import OpsEndpoint, ops_server, service_readiness
from mailbridge.common.outbox_relay import relay_forever
from mailbridge.common.seal_keys import resolve_seal_keys
from mailbridge.common.secrets import SecretBox, resolve_key_ring
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.common.streams import ensure_streams
from mailbridge.common.tls import client_context
from mailbridge.sender import subscribers
from mailbridge.sender.adapters.auto_replies import AutoReplies
from mailbridge.sender.adapters.credential_outgoing import OutgoingChecks
from mailbridge.sender.adapters.maintenance import renew_claims_forever, sweep_forever
from mailbridge.sender.adapters.send_limits import LimitedMailer
from mailbridge.sender.adapters.sent_folder import ImapSentFolder
from mailbridge.sender.adapters.smtp import SmtpPool
from mailbridge.sender.adapters.smtp_xoauth2 import SignIn
from mailbridge.sender.adapters.store import OutboxStore
from mailbridge.sender.adapters.sweep import SweepRule
from mailbridge.sender.auto_reply import AutoReplyDeps
from mailbridge.sender.auto_reply_consumer import auto_reply_consumer
from mailbridge.sender.credential_requests import credential_requests
from mailbridge.sender.mime import build_message
from mailbridge.sender.send_outbox import SendDeps
from mailbridge.sender.settings import SenderSettings


def create_app(settings: SenderSettings) -> FastStream:
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    secrets = SecretBox.from_ring(resolve_key_ring(key, settings.var_dir))
    engine = create_engine(settings.effective_database_url(settings.var_dir), settings.database_pool_size)
    sessions = create_session_factory(engine)
    tls = client_context(settings.extra_ca_file)
    nats_url = settings.require_nats_url()
    broker = create_broker(nats_url, f"sender-{settings.send_pool}", settings.nats_connect_timeout_s)
    tokens = BrokerTokens(lambda: broker.connection, settings.oauth_token_timeout_s)
    limits_store = KvStore()  # #17: limits shared by every replica, bound once NATS is connected
    limits = SharedLimits(limits_store)
    pool = SmtpPool(
        tls, timeout_s=settings.smtp_timeout_s, per_key=settings.smtp_connections_per_server,
        authenticate=SignIn(tokens), limits=limits,
    )  # fmt: skip
    sent_folder = ImapSentFolder(tls, settings.smtp_timeout_s, tokens)
    stale_after = timedelta(seconds=settings.send_stale_after_s)
    seal_key = settings.seal_key.get_secret_value() if settings.seal_key else None
    store = OutboxStore(sessions, secrets, stale_after, seals=resolve_seal_keys(seal_key, settings.var_dir))
    budget = Budget(settings.send_max_bytes_in_flight)
    mailer = LimitedMailer(pool, limits, settings.send_limit_wait_s)  # #17: MAILBRIDGE_SEND_LIMIT_WAIT_S
    deps = SendDeps(store, build_message, mailer, sent_folder, budget)
    queue = subscribers.POOLS[settings.send_pool]
    sweep_rule = SweepRule(
        stale_after, timedelta(seconds=settings.send_sweep_after_s),
        timedelta(seconds=settings.send_sweep_after_s + queue.backoff.cap_s),
    )  # fmt: skip
    commands = subscribers.consumer(deps, settings.send_pool, settings.send_workers, settings.send_ack_wait_s)
    app = FastStream(broker)
    background: list[asyncio.Task[None]] = []
    relay_wake = asyncio.Event()
    # A12: out-of-office replies to fetched mail, decided by the default pool's senders only.
    auto_reply_deps = AutoReplyDeps(AutoReplies(sessions), utcnow, relay_wake.set)
    default_pool = settings.send_pool == "default"
    auto_replies = auto_reply_consumer(auto_reply_deps, settings.auto_reply_workers) if default_pool else None

    # T1: the credentials test's outgoing check and test send, answered by the default pool only.
    credential_checks = (
        credential_requests(OutgoingChecks(sessions, secrets, tokens, tls, settings.smtp_timeout_s, limits))
        if settings.send_pool == "default"
        else None
    )

    nats = lambda: broker.connection  # noqa: E731 - connected in startup, read on each probe
    taken = (queue, AUTO_REPLY_QUEUE) if default_pool else (queue,)
    ops = ops_server(settings, OpsEndpoint(service_readiness(engine, nats), [consumer_lag(nats, taken)]))

    @app.on_startup
    async def declare_streams() -> None:
        if ops is not None:
            await ops.start()  # first: /readyz answers 503 while NATS is connecting
        await connect(broker, nats_url, settings.nats_connect_timeout_s * 3)
        await ensure_streams(broker.connection.jetstream(), settings.nats_stream_replicas)
        limits_store.bind(await limits_bucket(broker.connection.jetstream(), settings.nats_stream_replicas))

    @app.after_startup
    async def start_work() -> None:
        timeout = settings.nats_publish_timeout_s
        js = broker.connection.jetstream()
        background.extend((
            asyncio.create_task(relay_forever(sessions, broker, timeout, wake=relay_wake)),
            asyncio.create_task(renew_claims_forever(store)),
            asyncio.create_task(limits.renew_forever()),
            asyncio.create_task(sweep_forever(
                sessions, js, queue.durable, queue.stream.name, settings.send_pool == "egress",
                sweep_rule, settings.send_sweep_every_s, relay_wake,
            )),
        ))  # fmt: skip
        await commands.start(js)
        if auto_replies is not None:
            await auto_replies.start(js)
        if credential_checks is not None:
            await credential_checks.start(broker.connection)

    @app.on_shutdown
    async def stop() -> None:
        await commands.stop(GRACEFUL_TIMEOUT_S)  # the mails in flight finish; the rest are redelivered
        if auto_replies is not None:
            await auto_replies.stop(GRACEFUL_TIMEOUT_S)
        if credential_checks is not None:
            await credential_checks.stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await pool.close()
        await engine.dispose()
        if ops is not None:
            await ops.stop()

    return app
