"""Trace context (W3C `traceparent`) from an API request through NATS to the fetcher and sender.

One request can be followed across the services by its trace id: config-api takes the
request's `traceparent` (or starts a trace), every command and event published while a step
runs carries the step's own `traceparent` header (`publish`, and the outbox row the relay
publishes), and the work-queue consumer runs each command as a child step of the header it
came with. Log lines written inside a step carry its `trace_id` (and the `account_id` the work
is for), so `grep trace_id` across the services' logs shows the whole way of one request.

Only the OpenTelemetry API is used: the current span lives in its context (contextvars), so
the state follows `await` and the tasks a step starts. Without an OpenTelemetry SDK the API's
tracer records nothing; each step then gets a non-recording span with a fresh span id under
the same trace id, which is all propagation needs. A service that installs an SDK tracer
provider (`opentelemetry-sdk` with an OTLP exporter, configured by OTEL_EXPORTER_OTLP_ENDPOINT)
gets real, exported spans from the same calls: `step` starts them through the API's tracer and
only falls back when it does not record.
"""

import random
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

TRACEPARENT = "traceparent"  # the W3C header, on NATS messages as on HTTP requests
_TRACER = trace.get_tracer("mailbridge")
_ACCOUNT: ContextVar[uuid.UUID | None] = ContextVar("mailbridge_account_id", default=None)
_random = random.Random()  # ids need to be unique, not secret (as the SDK's own id generator)


def _new_id(bits: int) -> int:
    while not (value := _random.getrandbits(bits)):  # zero is the invalid id
        pass
    return value


def parent_context(traceparent: str | None) -> otel_context.Context:
    """The context a `traceparent` value describes; empty when there is none or it does not parse
    (a malformed header starts a new trace rather than failing the work).

    Parsed here rather than by the API's propagator (a regular expression and a trace state per
    call, about three times the cost of the whole step): the consumer loop does it per command."""
    remote = _remote_span(traceparent) if traceparent else None
    if remote is None:
        return otel_context.Context()
    return trace.set_span_in_context(NonRecordingSpan(remote), otel_context.Context())


def _remote_span(traceparent: str) -> SpanContext | None:
    """W3C trace-context: version-traceid-spanid-flags, lower-case hex; version ff is invalid and
    version 00 has exactly four fields (later versions may append more)."""
    fields = traceparent.strip().split("-")
    if len(fields) < 4 or len(fields[0]) != 2 or fields[0] == "ff":
        return None
    if fields[0] == "00" and len(fields) != 4:
        return None
    version, trace_hex, span_hex, flags_hex = fields[:4]
    if len(trace_hex) != 32 or len(span_hex) != 16 or len(flags_hex) != 2:
        return None
    try:
        int(version, 16)
        trace_id, span_id, flags = int(trace_hex, 16), int(span_hex, 16), int(flags_hex, 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & TraceFlags.SAMPLED))


@contextmanager
def step(
    name: str,
    traceparent: str | None,
    account_id: uuid.UUID | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[None]:
    """Run the enclosed work as a child of `traceparent` (a new trace without one), for
    `account_id` when given: logs, publishes and outbox rows inside see both."""
    parent = parent_context(traceparent)
    span = _TRACER.start_span(name, context=parent, kind=kind)
    if not span.is_recording():  # the API alone (no SDK): a span id of our own, same trace
        above = trace.get_current_span(parent).get_span_context()
        span = NonRecordingSpan(
            SpanContext(
                trace_id=above.trace_id if above.is_valid else _new_id(128),
                span_id=_new_id(64),
                is_remote=False,
                trace_flags=above.trace_flags if above.is_valid else TraceFlags(TraceFlags.SAMPLED),
            )
        )
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    account_token = _ACCOUNT.set(account_id)  # always: `bind_account` inside ends with the step
    try:
        yield
    finally:
        _ACCOUNT.reset(account_token)
        otel_context.detach(token)
        span.end()


def current_traceparent() -> str | None:
    """The `traceparent` of the running step (what work it publishes carries), None outside one."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None
    return f"00-{span.trace_id:032x}-{span.span_id:016x}-{span.trace_flags:02x}"


def trace_headers() -> dict[str, str]:
    """NATS headers carrying the running step's trace context; none outside a step."""
    traceparent = current_traceparent()
    return {TRACEPARENT: traceparent} if traceparent else {}


def traceparent_of(headers: Mapping[str, str] | None) -> str | None:
    return headers.get(TRACEPARENT) if headers else None


def current_trace_id() -> str | None:
    """The running step's trace id (32 hex digits), as logs show it."""
    span = trace.get_current_span().get_span_context()
    return f"{span.trace_id:032x}" if span.is_valid else None


def trace_id_of(traceparent: str) -> str:
    """The trace id part of a `traceparent` value."""
    return traceparent.split("-")[1]


def bind_account(account_id: uuid.UUID) -> None:
    """Name the account of the running step once the work learns it (a SendRequested names
    only its outbox row): the step's later log lines carry it. Ends with the step."""
    _ACCOUNT.set(account_id)


def current_account_id() -> uuid.UUID | None:
    """The account the running step works for, when it said."""
    return _ACCOUNT.get()
