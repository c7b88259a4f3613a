"""#15 Operations: the operations endpoint's answers (OpsEndpoint, Readiness) and its small HTTP
server on a loopback socket; the account states behind mailbridge_accounts. The checks here are
plain coroutines; the real database and NATS checks are exercised in tests/e2e/test_ops_endpoints.py."""

import asyncio
import json

from mailbridge.common.metrics_sampling import count_states, metric_state
from mailbridge.common.ops_http import OpsEndpoint, OpsServer, OpsSettings, Readiness, ops_server
from prometheus_client import Gauge
from prometheus_client.parser import text_string_to_metric_families


async def ok() -> None:
    return None


async def refused() -> None:
    raise ConnectionRefusedError("connection refused")


async def hangs() -> None:
    await asyncio.Event().wait()


async def test_readyz_names_what_is_unreachable_and_healthz_stays_ok() -> None:
    endpoint = OpsEndpoint(Readiness({"database": refused, "nats": ok}))
    ready = await endpoint.answer("GET", "/readyz")
    assert ready.status == 503
    body = json.loads(ready.body)
    assert body["status"] == "unready"
    assert body["database"] == "unreachable: ConnectionRefusedError: connection refused"
    assert body["nats"] == "ok"
    assert (await endpoint.answer("GET", "/healthz")).status == 200


async def test_readyz_is_200_when_every_check_passes() -> None:
    answer = await OpsEndpoint(Readiness({"database": ok, "nats": ok})).answer("GET", "/readyz?verbose")
    assert (answer.status, json.loads(answer.body)) == (200, {"status": "ok", "database": "ok", "nats": "ok"})


async def test_a_check_that_hangs_is_unready_within_its_bound() -> None:
    answer = await OpsEndpoint(Readiness({"nats": hangs}, timeout_s=0.05)).answer("GET", "/readyz")
    assert answer.status == 503
    assert json.loads(answer.body)["nats"] == "unreachable: TimeoutError"


async def test_metrics_run_the_samplers_first_and_a_failing_one_does_not_fail_the_scrape() -> None:
    gauge = Gauge("mailbridge_test_sampled", "set by a sampler")

    async def sample() -> None:
        gauge.set(7)

    endpoint = OpsEndpoint(Readiness({}), [refused, sample])
    answer = await endpoint.answer("GET", "/metrics")
    assert answer.status == 200
    assert answer.content_type.startswith("text/plain")
    values = {
        s.name: s.value for f in text_string_to_metric_families(answer.body.decode()) for s in f.samples
    }
    assert values["mailbridge_test_sampled"] == 7


async def test_unknown_paths_and_methods() -> None:
    endpoint = OpsEndpoint(Readiness({}))
    assert (await endpoint.answer("GET", "/nope")).status == 404
    assert (await endpoint.answer("POST", "/healthz")).status == 405


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_the_server_answers_http_on_loopback_and_closes() -> None:
    server = OpsServer(OpsEndpoint(Readiness({"database": refused})), "127.0.0.1", 0)
    await server.start()
    try:
        healthz = await _raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = healthz.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert f"Content-Length: {len(body)}".encode() in head
        assert json.loads(body) == {"status": "ok"}
        readyz = await _raw(server.port, b"GET /readyz HTTP/1.0\r\n\r\n")
        assert readyz.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        head_only = await _raw(server.port, b"HEAD /healthz HTTP/1.1\r\n\r\n")
        assert head_only.endswith(b"\r\n\r\n")
        assert (await _raw(server.port, b"nonsense\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    finally:
        await server.stop()


def test_the_endpoint_is_off_unless_a_port_is_set() -> None:
    endpoint = OpsEndpoint(Readiness({}))
    assert ops_server(OpsSettings(), endpoint) is None
    assert ops_server(OpsSettings(ops_port=0), endpoint) is not None
    assert OpsSettings().ops_host == "127.0.0.1"


def test_account_states() -> None:
    """The gauge's states (the shared rule, `common.account_state`, plus unfetched)."""
    assert metric_state(True, "ok", None) == "needs_reconnect"
    assert metric_state(False, "failed", None) == "failing"
    assert metric_state(False, "ok", "failed") == "failing"
    assert metric_state(False, None, None) == "unfetched"
    assert metric_state(False, "partial", "sent") == "ok"
    rows = [(False, "ok", None, 3), (False, "failed", None, 2), (True, None, None, 1)]
    assert count_states(rows) == {"ok": 3, "failing": 2, "needs_reconnect": 1, "unfetched": 0}
