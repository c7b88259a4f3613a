"""Composition root: settings → database, secrets, NATS → the FastAPI app; nothing at import."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.routing import APIRoute
from mailbridge.common import outbox_relay
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.messaging import connect, create_broker
from mailbridge.common.metrics_sampling import accounts_by_state
from mailbridge.common.ops_http import OpsEndpoint, service_readiness
from mailbridge.common.seal_keys import seal_keys_if_any
from mailbridge.common.secrets import SecretBox, resolve_key_ring
from mailbridge.common.streams import ensure_streams
from mailbridge.config_api.api_docs.pages import install_api_docs
from mailbridge.config_api.business_units.service import BusinessUnits
from mailbridge.config_api.console import routes as console
from mailbridge.config_api.credential_tests import router as credential_tests
from mailbridge.config_api.deps import AppContext
from mailbridge.config_api.fetching import router as fetching_routes
from mailbridge.config_api.fetching.scheduler import run_scheduler
from mailbridge.config_api.groups.service import Groups
from mailbridge.config_api.guard import RequestGuard, endpoints
from mailbridge.config_api.health import router as health_routes
from mailbridge.config_api.http_metrics import HttpMetrics, RouteTemplates
from mailbridge.config_api.mail_accounts import router as owned_accounts
from mailbridge.config_api.mail_accounts.service import MailAccounts
from mailbridge.config_api.mail_servers.service import MailServers
from mailbridge.config_api.mail_settings import router as mail_settings
from mailbridge.config_api.mailbox import changes as mailbox_changes
from mailbridge.config_api.mailbox import router as mailbox_routes
from mailbridge.config_api.oauth_connect import callback as oauth_callback
from mailbridge.config_api.oauth_connect import router as oauth_connect
from mailbridge.config_api.oauth_providers.service import OAuthProviders
from mailbridge.config_api.openapi import declare_bearer_auth, include_models
from mailbridge.config_api.out_of_office import router as out_of_office
from mailbridge.config_api.outbox import intake as outbox_intake
from mailbridge.config_api.outbox import router as outbox_routes
from mailbridge.config_api.problems import install_problem_handlers
from mailbridge.config_api.request_tracing import TraceRequests
from mailbridge.config_api.router_factory import crud_router
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.config_api.unexpected import ContainUnexpected
from mailbridge.config_api.users.service import Users
from mailbridge.config_api.webhook_delivery.intake import webhook_consumer
from mailbridge.config_api.webhook_delivery.schedule import RetrySchedule
from mailbridge.config_api.webhook_delivery.worker import DeliverySettings, deliver_forever
from mailbridge.config_api.webhooks import router as webhook_routes
from nats.errors import Error as NatsError
from pydantic import BaseModel

logger = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


class Health(BaseModel):
    status: str
    database: str
    nats: str


def create_app(settings: ConfigApiSettings) -> FastAPI:
    secrets = SecretBox.from_ring(
        resolve_key_ring(
            settings.secret_key.get_secret_value() if settings.secret_key else None,
            settings.var_dir,
        )
    )
    database_url = settings.effective_database_url(settings.var_dir)

    nats_url = settings.require_nats_url()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(database_url, settings.database_pool_size)
        broker = create_broker(nats_url, "config-api", settings.nats_connect_timeout_s)
        await connect(broker, nats_url, settings.nats_connect_timeout_s * 3)
        await ensure_streams(broker.connection.jetstream(), settings.nats_stream_replicas)
        sessions = create_session_factory(engine)
        # /readyz and /metrics (#15): the same checks and endpoint as the other services' ops port.
        app.state.ops = OpsEndpoint(
            service_readiness(engine, lambda: broker.connection), [accounts_by_state(sessions)]
        )
        timeout = settings.nats_publish_timeout_s
        # The commands this service commits (SendRequested, MailboxChangeRequested) leave through
        # its own relay, woken by the request that committed them rather than at its idle poll.
        wake = asyncio.Event()
        app.state.context = AppContext(
            sessions, secrets, broker, timeout, wake, settings.public_url, settings.oauth_broker_timeout_s
        )
        tasks = []
        if settings.outbox_relay:
            tasks.append(
                asyncio.create_task(outbox_relay.relay_forever(sessions, broker, timeout, wake=wake))
            )
        if settings.scheduler_tick_s > 0:
            tasks.append(
                asyncio.create_task(run_scheduler(sessions, broker, timeout, settings.scheduler_tick_s))
            )
        # Webhooks (#18): events recorded as deliveries from the shared durable, delivered from the
        # database by every replica (webhook_delivery/__init__.py says in which order).
        webhooks = None
        if settings.webhook_poll_s > 0:
            api_base = (settings.public_url or "").rstrip("/") + API_PREFIX
            webhooks = webhook_consumer(sessions, api_base)
            await webhooks.start(broker.connection.jetstream())
            delivery = DeliverySettings(
                RetrySchedule(settings.webhook_retry_schedule_s),
                settings.webhook_timeout_s,
                settings.webhook_poll_s,
            )
            tasks.append(asyncio.create_task(deliver_forever(sessions, secrets, delivery)))
        try:
            yield
        finally:
            if webhooks is not None:
                await webhooks.stop(grace_s=5.0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await broker.stop()
            except NatsError as error:  # e.g. still reconnecting to a server that went away
                logger.warning("NATS connection not closed cleanly: %s", error)
            await engine.dispose()

    app = FastAPI(
        title="Mailbridge configuration API",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc from the package: api_docs/pages.py
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.api_max_body_bytes,
        api_prefix=API_PREFIX,
        # The outbox upload: intake.py bounds its reading by MAILBRIDGE_OUTBOX_MAX_BYTES.
        self_bounded=endpoints(outbox_routes.router, API_PREFIX, ["send_mail"]),
    )
    app.add_middleware(ContainUnexpected)  # outside the guard: its database errors too
    app.add_middleware(TraceRequests)  # outermost: the guard's and the last resort's logs too
    templates = RouteTemplates()  # filled below, as the routers are included
    app.add_middleware(HttpMetrics, templates=templates)  # outermost: every request counted with its status
    include_models(app, outbox_intake.BODY_MODELS)
    declare_bearer_auth(app, API_PREFIX)
    install_api_docs(app)  # /docs, /redoc, /asyncapi(.json) (#16, #18)
    app.state.outbox_max_bytes = settings.outbox_max_bytes
    seal_key = settings.seal_key.get_secret_value() if settings.seal_key else None
    app.state.seal_keys = seal_keys_if_any(seal_key, settings.var_dir)  # G6: GET /outbox/verify
    for router in (
        crud_router(BusinessUnits(), "/business-units", "business_unit"),
        crud_router(Users(), "/users", "user"),
        crud_router(Groups(), "/groups", "group"),
        crud_router(OAuthProviders(), "/oauth-providers", "oauth_provider"),
        crud_router(MailServers(), "/mail-servers", "mail_server"),
        crud_router(MailAccounts(), "/mail-accounts", "mail_account"),
        owned_accounts.router,
        fetching_routes.router,
        mailbox_routes.router,
        mailbox_changes.router,
        outbox_routes.router,
        mail_settings.router,
        oauth_connect.router,
        out_of_office.router,
        credential_tests.router,
        health_routes.router,
        webhook_routes.router,
        webhook_routes.actions,
    ):
        app.include_router(router, prefix=API_PREFIX)
        templates.add(API_PREFIX, router.routes)
    app.include_router(oauth_callback.router)  # the browser's, outside the API and its keys
    templates.add("", oauth_callback.router.routes)
    templates.add("", console.install(app))  # the admin console (#16), under /console

    @app.get("/healthz", tags=["health"], responses={503: {"model": Health}})
    async def healthz(response: Response) -> Health:
        """Ready when the database answers and NATS is connected; otherwise 503 naming which is
        not (the database "unreachable: …", NATS "disconnected"), never a 500."""
        ops: OpsEndpoint = app.state.ops
        states = await ops.readiness.report()
        database, nats = states["database"], "ok" if states["nats"] == "ok" else "disconnected"
        healthy = database == nats == "ok"
        if not healthy:
            response.status_code = 503
        return Health(status="ok" if healthy else "degraded", database=database, nats=nats)

    @app.get("/readyz", tags=["health"], responses={200: {"model": Health}, 503: {"model": Health}})
    async def readyz() -> Response:
        """Readiness (#15): 200 when the database answers and NATS is connected; 503 naming which
        is not ("unreachable: …"), as /healthz does in its older shape."""
        ops: OpsEndpoint = app.state.ops
        answer = await ops.answer("GET", "/readyz")
        return Response(answer.body, answer.status, media_type=answer.content_type)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics: HTTP requests by route template, accounts by state, … (#15)."""
        ops: OpsEndpoint = app.state.ops
        answer = await ops.answer("GET", "/metrics")
        return Response(answer.body, answer.status, media_type=answer.content_type)

    templates.add("", [route for route in app.router.routes if isinstance(route, APIRoute)])
    return app
