"""The operations endpoint of the services that have no HTTP API of their own (fetcher, sender,
OAuth broker): /healthz, /readyz and /metrics on MAILBRIDGE_OPS_HOST:MAILBRIDGE_OPS_PORT.

- `/healthz` (liveness): 200 as long as the process's event loop answers. Nothing else is checked,
  so an outage of NATS or the database never gets a healthy process restarted.
- `/readyz` (readiness): 200 when every check passes (the database answers `SELECT 1`, NATS is
  connected); otherwise 503 and a JSON body naming what is not reachable.
- `/metrics`: the Prometheus text format of the default registry, after the samplers (e.g. each
  durable's pending count) have run, each bounded in time.

A small asyncio server rather than a web framework: three GET routes, answered and closed, do not
need one, and the services gain no dependency and no second event loop. It reads one request line
and its headers (bounded), answers, and closes the connection.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mailbridge.common.settings import MailbridgeSettings
from nats.aio.client import Client as NatsClient
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]  # raises when what it checks is not reachable
Sampler = Callable[[], Awaitable[None]]  # sets gauges before a scrape
CHECK_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
MAX_HEADER_LINES = 100


class OpsSettings(MailbridgeSettings):
    """Where the operations endpoint listens; off (None) unless a port is given. Loopback by
    default; a container sets MAILBRIDGE_OPS_HOST=0.0.0.0 so its probes and Prometheus reach it."""

    ops_host: str = "127.0.0.1"
    ops_port: int | None = Field(default=None, ge=0, le=65535)


@dataclass(frozen=True)
class Readiness:
    """Named checks: a name ("database", "nats") → a coroutine that raises when it is unreachable."""

    checks: Mapping[str, Check]
    timeout_s: float = CHECK_TIMEOUT_S

    async def report(self) -> dict[str, str]:
        """Each check's state: "ok", or "unreachable: <why>"; all run at once, each bounded."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._one(self.checks[name]) for name in names))
        return dict(zip(names, results, strict=True))

    async def _one(self, check: Check) -> str:
        try:
            async with asyncio.timeout(self.timeout_s):
                await check()
        except Exception as error:  # noqa: BLE001 - whatever fails, the answer is "not ready"
            return (
                f"unreachable: {type(error).__name__}: {error}"
                if str(error)
                else (f"unreachable: {type(error).__name__}")
            )
        return "ok"


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


@dataclass
class OpsEndpoint:
    """The routes, independent of the server (tested without a socket too)."""

    readiness: Readiness
    samplers: Sequence[Sampler] = field(default_factory=tuple)
    sample_timeout_s: float = CHECK_TIMEOUT_S

    async def answer(self, method: str, path: str) -> Response:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": "only GET"})
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/readyz":
            states = await self.readiness.report()
            ready = all(state == "ok" for state in states.values())
            return _json(200 if ready else 503, {"status": "ok" if ready else "unready", **states})
        if path == "/metrics":
            await self._sample()
            return Response(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        return _json(404, {"error": "not found"})

    async def _sample(self) -> None:
        for sampler in self.samplers:
            try:
                async with asyncio.timeout(self.sample_timeout_s):
                    await sampler()
            except Exception as error:  # noqa: BLE001 - a failed sample leaves the last value
                # one line, no traceback: during an outage every scrape fails the same way
                logger.warning("a metrics sample failed: %s: %s", type(error).__name__, error)


def _json(status: int, body: Mapping[str, str]) -> Response:
    return Response(status, "application/json", json.dumps(body).encode())


REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable",
}  # fmt: skip


class OpsServer:
    """An `OpsEndpoint` on a TCP port; `start()` in the service's startup, `stop()` at shutdown."""

    def __init__(self, endpoint: OpsEndpoint, host: str, port: int) -> None:
        self._endpoint, self._host, self._port = endpoint, host, port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one the system chose for 0)."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        logger.info("operations endpoint on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                request_line = (await reader.readline()).decode("latin-1").split()
                for _ in range(MAX_HEADER_LINES):
                    if (await reader.readline()) in (b"\r\n", b"\n", b""):
                        break
            if len(request_line) != 3:
                response = _json(400, {"error": "bad request"})
            else:
                response = await self._endpoint.answer(request_line[0], request_line[1])
            head = (
                f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}\r\n"
                f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode("latin-1")
            writer.write(head if request_line[:1] == ["HEAD"] else head + response.body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError):
            pass  # a client that went away or never spoke: nothing to answer
        finally:
            writer.close()


def ops_server(settings: OpsSettings, endpoint: OpsEndpoint) -> OpsServer | None:
    """The server the settings ask for, or None when MAILBRIDGE_OPS_PORT is not set."""
    if settings.ops_port is None:
        return None
    return OpsServer(endpoint, settings.ops_host, settings.ops_port)


def database_check(engine: AsyncEngine) -> Check:
    """The database answers `SELECT 1` (a connection from the pool, or a new one)."""

    async def check() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return check


def nats_check(client: Callable[[], NatsClient]) -> Check:
    """The NATS client is connected (not connecting, reconnecting or closed)."""

    async def check() -> None:
        if not client().is_connected:
            raise ConnectionError("NATS is not connected")

    return check


def service_readiness(engine: AsyncEngine, client: Callable[[], NatsClient]) -> Readiness:
    """What every service's /readyz checks: the database and NATS (issue #15)."""
    return Readiness({"database": database_check(engine), "nats": nats_check(client)})
