"""Composition root: settings → the token source → NATS → the token-request subscriber."""

from faststream import FastStream
from mailbridge.common.messaging import connect, create_broker
from mailbridge.oauth_broker import subscribers
from mailbridge.oauth_broker.adapters.no_tokens import NoTokens
from mailbridge.oauth_broker.settings import OAuthBrokerSettings


def create_app(settings: OAuthBrokerSettings) -> FastStream:
    nats_url = settings.require_nats_url()
    broker = create_broker(nats_url, "oauth-broker", settings.nats_connect_timeout_s)
    subscribers.register(broker, NoTokens(), settings.token_request_workers)
    app = FastStream(broker)

    @app.on_startup
    async def connect_nats() -> None:
        await connect(broker, nats_url, settings.nats_connect_timeout_s * 3)

    return app
