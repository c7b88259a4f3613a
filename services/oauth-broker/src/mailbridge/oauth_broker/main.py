"""Composition root: settings → database, secrets, the HTTP session that trusts the extra CA,
msal → the use-cases → NATS subscribers, the outbox relay and the background refresher."""

import asyncio
from datetime import timedelta

from faststream import FastStream
from mailbridge.common import outbox_relay
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.messaging import connect, create_broker
from mailbridge.common.ops_http import OpsEndpoint, ops_server, service_readiness
from mailbridge.common.secrets import SecretBox, resolve_key_ring
from mailbridge.common.streams import ensure_streams
from mailbridge.oauth_broker import subscribers
from mailbridge.oauth_broker.adapters.http_session import ProviderSession
from mailbridge.oauth_broker.adapters.msal_provider import MsalProvider
from mailbridge.oauth_broker.adapters.sql_flows import SqlFlows
from mailbridge.oauth_broker.adapters.sql_grants import SqlGrants
from mailbridge.oauth_broker.flows import FlowDeps
from mailbridge.oauth_broker.keep_alive import KeepAlive
from mailbridge.oauth_broker.providers import InstallationApp
from mailbridge.oauth_broker.settings import OAuthBrokerSettings
from mailbridge.oauth_broker.tokens import TokenDeps, TokenKeeper


def create_app(settings: OAuthBrokerSettings) -> FastStream:
    nats_url = settings.require_nats_url()
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    secrets = SecretBox.from_ring(resolve_key_ring(key, settings.var_dir))
    engine = create_engine(settings.effective_database_url(settings.var_dir), settings.database_pool_size)
    sessions = create_session_factory(engine)
    # Half the bound per HTTP request (discovery, then the token endpoint): the thread ends within
    # the bound, so a rotated refresh token it received is not dropped by an outer timeout.
    http = ProviderSession(settings.extra_ca_file, settings.oauth_provider_timeout_s / 2)
    provider = MsalProvider(http, settings.oauth_provider_timeout_s)
    m365_secret = settings.oauth_m365_client_secret
    installation = InstallationApp(
        settings.oauth_m365_client_id, m365_secret.get_secret_value() if m365_secret else None
    )
    grants = SqlGrants(sessions, secrets)
    keeper = TokenKeeper(
        TokenDeps(grants, provider, installation, timedelta(seconds=settings.token_refresh_margin_s))
    )
    flows = FlowDeps(
        grants,
        SqlFlows(sessions, secrets),
        provider,
        installation,
        timedelta(seconds=settings.oauth_flow_ttl_s),
    )
    broker = create_broker(nats_url, "oauth-broker", settings.nats_connect_timeout_s)
    subscribers.register(broker, keeper, flows, settings.token_request_workers)
    app = FastStream(broker)
    background: list[asyncio.Task[None]] = []

    ops = ops_server(settings, OpsEndpoint(service_readiness(engine, lambda: broker.connection)))

    @app.on_startup
    async def connect_nats() -> None:
        if ops is not None:
            await ops.start()  # first: /readyz answers 503 while NATS is connecting
        await connect(broker, nats_url, settings.nats_connect_timeout_s * 3)
        await ensure_streams(broker.connection.jetstream(), settings.nats_stream_replicas)

    @app.after_startup
    async def start_background() -> None:
        timeout = settings.nats_publish_timeout_s
        background.append(asyncio.create_task(outbox_relay.relay_forever(sessions, broker, timeout)))
        every = timedelta(seconds=settings.oauth_keep_alive_every_s)
        after = timedelta(seconds=settings.oauth_keep_alive_after_s)
        refresher = KeepAlive(keeper, grants, after, settings.oauth_keep_alive_batch)
        background.append(asyncio.create_task(refresher.forever(every)))

    @app.on_shutdown
    async def stop() -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        http.close()
        await engine.dispose()
        if ops is not None:
            await ops.stop()

    return app
