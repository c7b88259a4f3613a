"""common.tracing and the JSON log filter (#15 Operations): a step continues the trace its
`traceparent` names with a span id of its own, starts a trace without one (or with a malformed
one), carries its account, and every JSON line logged inside carries `trace_id`/`account_id`."""

import io
import json
import logging
import uuid

import pytest
from mailbridge.common.logging import JsonFormatter, TraceContextFilter
from mailbridge.common.tracing import (
    TRACEPARENT,
    bind_account,
    current_account_id,
    current_trace_id,
    current_traceparent,
    step,
    trace_headers,
    trace_id_of,
)

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ACCOUNT = uuid.UUID("6f1c2b7e-3c1d-4f8e-9a0b-1c2d3e4f5a6b")


def test_a_step_continues_the_callers_trace_with_a_span_of_its_own() -> None:
    with step("work", PARENT, ACCOUNT):
        traceparent = current_traceparent()
        assert traceparent is not None
        assert trace_id_of(traceparent) == trace_id_of(PARENT)
        assert traceparent != PARENT  # a child: the same trace, its own span id
        assert traceparent.endswith("-01")  # the caller's sampled flag is kept
        assert trace_headers() == {TRACEPARENT: traceparent}
        assert current_account_id() == ACCOUNT
    assert (current_traceparent(), current_account_id(), trace_headers()) == (None, None, {})


@pytest.mark.parametrize(
    "incoming", [None, "", "not-a-traceparent", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"]
)
def test_without_a_valid_traceparent_a_step_starts_a_new_trace(incoming: str | None) -> None:
    with step("work", incoming):
        trace_id = current_trace_id()
        assert trace_id is not None
        assert len(trace_id) == 32
        assert trace_id != "0" * 32
    with step("again", incoming):
        assert current_trace_id() != trace_id


def test_a_nested_step_stays_in_the_trace_and_the_outer_one_is_back_after_it() -> None:
    with step("outer", PARENT):
        outer = current_traceparent()
        with step("inner", outer):
            assert current_trace_id() == trace_id_of(PARENT)
            bind_account(ACCOUNT)
            assert current_account_id() == ACCOUNT
        assert (current_traceparent(), current_account_id()) == (outer, None)


def test_json_lines_logged_inside_a_step_carry_its_trace_id_and_account_id() -> None:
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceContextFilter())
    logger = logging.getLogger("mailbridge.test_tracing")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("outside")
        with step("work", PARENT, ACCOUNT):
            logger.info("inside")
            logger.info("explicit", extra={"account_id": "given"})
    finally:
        logger.removeHandler(handler)
    outside, inside, explicit = (json.loads(line) for line in sink.getvalue().splitlines())
    assert "trace_id" not in outside
    assert "account_id" not in outside
    assert (inside["trace_id"], inside["account_id"]) == (trace_id_of(PARENT), str(ACCOUNT))
    assert (explicit["trace_id"], explicit["account_id"]) == (trace_id_of(PARENT), "given")


@pytest.mark.parametrize(
    ("incoming", "valid"),
    [
        (PARENT, True),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later", True),  # a later version
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", False),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01", False),
    ],
)
def test_the_traceparent_is_read_as_w3c_trace_context_says(incoming: str, valid: bool) -> None:
    with step("work", incoming):
        assert (current_trace_id() == trace_id_of(PARENT)) is valid
