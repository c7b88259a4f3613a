"""#15 Operations: every service's /healthz, /readyz and /metrics on a real NATS and on both
databases. The fetcher, the sender and the OAuth broker run their composition roots in this process
with MAILBRIDGE_OPS_PORT set; the configuration API serves the same answers on its own port.

- ready → /readyz 200; NATS stopped → /readyz 503 naming NATS while /healthz stays 200; a database
  that does not answer → /readyz 503 naming the database.
- A real fetch from the harness's Dovecot raises mailbridge_fetches_total{outcome="ok"} by one and
  a real send through its Postfix mailbridge_sends_total{outcome="sent"} by one; the broker counts
  a refused token request by kind. No label value holds an address ('@').

Each test has a NATS server of its own (it stops it) and counts deltas: the metrics live in the
process's default registry, shared by whatever ran before.
"""

import asyncio
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from faststream import FastStream
from faststream.nats import NatsBroker
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.events import FetchReason, FetchRequested, SendRequested
from mailbridge.common.nats_embedded import EmbeddedNats, start_embedded_nats
from mailbridge.common.net import free_port
from mailbridge.common.oauth_requests import TOKEN_REQUEST_SUBJECT, AccessTokenRequest
from mailbridge.common.outbox_relay import enqueue
from mailbridge.common.seal_keys import generate_seal_key
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.config_api.main import create_app as create_config_api
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.fetcher.main import create_app as create_fetcher
from mailbridge.fetcher.settings import FetcherSettings
from mailbridge.oauth_broker.main import create_app as create_broker_app
from mailbridge.oauth_broker.settings import OAuthBrokerSettings
from mailbridge.sender.main import create_app as create_sender
from mailbridge.sender.settings import SenderSettings
from mailbridge.testkit.config_rows import add_account
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

WITHIN_S = 60.0  # a bound on waiting, never a claim about speed
DEAD_DATABASE = "postgresql+asyncpg://nobody@127.0.0.1:{port}/none"  # a port nothing listens on
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(text: str) -> Samples:
    """The exposition text parsed by prometheus_client's own parser: (name, labels) → value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def assert_no_addresses(samples: Samples) -> None:
    label_values = [v for (_, labels) in samples for (_, v) in labels]
    assert label_values, "some labelled series"
    assert not [v for v in label_values if "@" in v]


async def until(probe: Callable[[], Awaitable[bool]], what: str) -> None:
    async with asyncio.timeout(WITHIN_S):
        while not await probe():  # noqa: ASYNC110 - another component's state, polled
            await asyncio.sleep(0.05)


class Ops:
    """An operations port, read over HTTP like a kubelet or Prometheus does."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=10)

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def metrics(self) -> Samples:
        answer = await self.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        return scrape(answer.text)

    async def unready_because_nats(self) -> None:
        """NATS was stopped: /readyz turns 503 naming NATS (the database still ok); /healthz 200."""

        async def unready() -> bool:
            return (await self.get("/readyz")).status_code == 503

        await until(unready, "/readyz 503")
        body = (await self.get("/readyz")).json()
        assert body["status"] == "unready"
        assert body["nats"].startswith("unreachable")
        assert body["database"] == "ok"
        assert (await self.get("/healthz")).status_code == 200

    async def ready_again(self) -> None:
        """NATS is back: the service reconnected by itself and /readyz says so."""

        async def ready() -> bool:
            return (await self.get("/readyz")).status_code == 200

        await until(ready, "/readyz 200 again")

    async def through_an_outage(self, nats: "OwnNats") -> None:
        nats.stop()
        await self.unready_because_nats()
        nats.restart()
        await self.ready_again()


class OwnNats:
    """A NATS server of the test's own: stopped mid-test, and started again on the same port and
    store, so the services reconnect by themselves before they stop."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.server: EmbeddedNats = start_embedded_nats(store)
        self.url = self.server.url
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.server = start_embedded_nats(self.store, port=self.port)


@pytest.fixture
def own_nats() -> Iterator[OwnNats]:
    with tempfile.TemporaryDirectory(prefix="mb-nats-") as store:
        nats = OwnNats(Path(store))
        try:
            yield nats
        finally:
            nats.stop()


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@asynccontextmanager
async def running(app: FastStream, port: int) -> AsyncIterator[Ops]:
    await app.start()
    ops = Ops(f"http://127.0.0.1:{port}")
    try:
        yield ops
    finally:
        await ops.client.aclose()
        await app.stop()


async def test_fetcher_ops_endpoints_and_one_fetch_counted(
    database_url: str, sessions: async_sessionmaker[AsyncSession], own_nats: OwnNats,
    mail_stack: MailStack, mail_user: MailUser, tmp_path: Path,
) -> None:  # fmt: skip
    key = generate_key()
    account = await add_account(
        sessions, incoming_protocol="imap", incoming_host=f"127.0.0.1:{mail_stack.ports.imap}",
        login=mail_user.address, address=mail_user.address,
        password_encrypted=SecretBox([key]).encrypt(mail_user.password),
    )  # fmt: skip
    with mail_stack.imap(mail_user) as imap:
        imap.append("INBOX", None, None, b"Subject: metrics\r\nFrom: a@example.com\r\n\r\nhi\r\n")
    port = free_port("127.0.0.1")
    settings = FetcherSettings(
        database_url=database_url, nats_url=own_nats.url, secret_key=key, var_dir=tmp_path,
        extra_ca_file=mail_stack.ca_file, ops_port=port, fetch_workers=2,
    )  # fmt: skip
    async with running(create_fetcher(settings), port) as ops:
        assert (await ops.get("/healthz")).json() == {"status": "ok"}
        ready = await ops.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok", "nats": "ok"})
        before = await ops.metrics()
        async with sessions() as session:  # the fetcher's own relay publishes it
            enqueue(session, FetchRequested(account_id=account.account_id, reason=FetchReason.MANUAL))
            await session.commit()

        async def fetched() -> bool:
            now = await ops.metrics()
            return value(now, "mailbridge_fetches_total", outcome="ok") > value(
                before, "mailbridge_fetches_total", outcome="ok"
            )

        await until(fetched, "one fetch counted")
        after = await ops.metrics()
        for name in ("mailbridge_fetches_total", "mailbridge_fetch_duration_seconds_count"):
            assert value(after, name, outcome="ok") - value(before, name, outcome="ok") == 1
        assert (
            value(after, "mailbridge_messages_stored_total")
            - value(before, "mailbridge_messages_stored_total")
            >= 1
        )
        assert ("mailbridge_consumer_pending_messages", (("durable", "fetcher"),)) in after
        assert_no_addresses(after)
        await ops.through_an_outage(own_nats)


async def test_sender_ops_endpoints_and_one_send_counted(
    database_url: str, sessions: async_sessionmaker[AsyncSession], own_nats: OwnNats,
    mail_stack: MailStack, mail_user: MailUser, tmp_path: Path,
) -> None:  # fmt: skip
    account = await add_account(sessions, smtp_host=f"127.0.0.1:{mail_stack.ports.smtp}")
    port = free_port("127.0.0.1")
    settings = SenderSettings(
        database_url=database_url, nats_url=own_nats.url, secret_key=generate_key(), var_dir=tmp_path,
        seal_key=generate_seal_key(),
        extra_ca_file=mail_stack.ca_file, ops_port=port, send_workers=4,
    )  # fmt: skip
    async with running(create_sender(settings), port) as ops:
        ready = await ops.get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "ok")
        before = await ops.metrics()
        async with sessions() as session:
            row = OutboxMessage(
                account_id=account.account_id, request={"to": [mail_user.address], "subject": "m"}
            )
            session.add(row)
            await session.flush()
            enqueue(session, SendRequested(outbox_id=row.id))
            await session.commit()

        async def sent() -> bool:
            now = await ops.metrics()
            return value(now, "mailbridge_sends_total", outcome="sent") > value(
                before, "mailbridge_sends_total", outcome="sent"
            )

        await until(sent, "one send counted")
        after = await ops.metrics()
        for name in ("mailbridge_sends_total", "mailbridge_send_duration_seconds_count"):
            assert value(after, name, outcome="sent") - value(before, name, outcome="sent") == 1
        for durable in ("sender", "sender-auto-replies"):
            assert ("mailbridge_consumer_pending_messages", (("durable", durable),)) in after
        assert_no_addresses(after)
        await ops.through_an_outage(own_nats)


async def test_oauth_broker_ops_endpoints_and_a_refusal_counted_by_kind(
    database_url: str, sessions: async_sessionmaker[AsyncSession], own_nats: OwnNats, tmp_path: Path
) -> None:
    port = free_port("127.0.0.1")
    settings = OAuthBrokerSettings(
        database_url=database_url, nats_url=own_nats.url, secret_key=generate_key(), var_dir=tmp_path,
        ops_port=port,
    )  # fmt: skip
    app = create_broker_app(settings)
    async with running(app, port) as ops:
        assert (await ops.get("/readyz")).status_code == 200
        before = await ops.metrics()
        request = AccessTokenRequest(account_id=uuid.uuid4())  # no grant held: not_connected
        broker = app.broker
        assert isinstance(broker, NatsBroker)
        await broker.connection.request(TOKEN_REQUEST_SUBJECT, request.model_dump_json().encode(), timeout=10)
        after = await ops.metrics()
        refused = ("mailbridge_token_refusals_total", {"kind": "not_connected"})
        assert value(after, refused[0], **refused[1]) - value(before, refused[0], **refused[1]) == 1
        assert (
            value(after, "mailbridge_token_requests_total", answer="refused")
            - value(before, "mailbridge_token_requests_total", answer="refused")
            == 1
        )
        await ops.through_an_outage(own_nats)


async def test_config_api_readyz_and_metrics(
    database_url: str, sessions: async_sessionmaker[AsyncSession], own_nats: OwnNats, tmp_path: Path
) -> None:
    await add_account(sessions)  # one account at least, never fetched
    settings = ConfigApiSettings(
        database_url=database_url, nats_url=own_nats.url, secret_key=generate_key(), var_dir=tmp_path,
        scheduler_tick_s=0,
    )  # fmt: skip
    app = create_config_api(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mailbridge") as client,
    ):
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok", "nats": "ok"})
        await client.get(f"/api/v1/mail-accounts/{uuid.uuid4()}")  # 401 without a key: counted too
        samples = scrape((await client.get("/metrics")).text)
        assert value(samples, "mailbridge_accounts", state="unfetched") >= 1
        route = "/api/v1/mail-accounts/{item_id}"
        counted = [labels for (name, labels) in samples if name == "mailbridge_http_requests_total"]
        assert any(("route", route) in labels for labels in counted), counted
        assert not [v for labels in counted for _, v in labels if UUID_TEXT.search(v)]  # templates, not ids
        assert_no_addresses(samples)
        own_nats.stop()
        for _ in range(100):
            lost = await client.get("/readyz")
            if lost.status_code == 503:
                break
            await asyncio.sleep(0.1)
        assert (lost.status_code, lost.json()["nats"].startswith("unreachable")) == (503, True)
        assert lost.json()["database"] == "ok"


async def test_config_api_readyz_names_a_database_that_does_not_answer(
    own_nats: OwnNats, tmp_path: Path
) -> None:
    settings = ConfigApiSettings(
        database_url=DEAD_DATABASE.format(port=free_port("127.0.0.1")), nats_url=own_nats.url,
        secret_key=generate_key(), var_dir=tmp_path, scheduler_tick_s=0, outbox_relay=False,
    )  # fmt: skip
    app = create_config_api(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mailbridge") as client,
    ):
        unready = await client.get("/readyz")
        assert unready.status_code == 503
        assert unready.json()["database"].startswith("unreachable")
        assert unready.json()["nats"] == "ok"
