"""Streams and publishing against a real nats-server: declaration, de-duplication, decoding."""

import uuid
from collections.abc import AsyncIterator

import pytest
from faststream.nats import NatsBroker
from mailbridge.common.events import FetchReason, FetchRequested, MailFetched
from mailbridge.common.messaging import create_broker, publish
from mailbridge.common.streams import ALL_STREAMS, EVENTS, FETCH, ensure_streams, stream_for
from nats.js.api import RetentionPolicy


@pytest.fixture
async def broker(nats_url: str) -> AsyncIterator[NatsBroker]:
    broker = create_broker(nats_url, "test")
    await broker.connect()
    await ensure_streams(broker.connection.jetstream())
    yield broker
    await broker.stop()


async def test_streams_are_declared_and_redeclaring_is_harmless(broker: NatsBroker) -> None:
    js = broker.connection.jetstream()
    await ensure_streams(js)
    for spec in ALL_STREAMS:
        info = await js.stream_info(spec.name)
        assert sorted(info.config.subjects or []) == sorted(spec.subjects)
        assert info.config.retention == spec.retention
    assert (await js.stream_info(FETCH.name)).config.retention == RetentionPolicy.WORK_QUEUE


async def test_changed_stream_config_is_brought_back(broker: NatsBroker) -> None:
    js = broker.connection.jetstream()
    drifted = EVENTS.config(1)
    drifted.max_age = 3600.0
    await js.update_stream(drifted)
    await ensure_streams(js)
    assert (await js.stream_info(EVENTS.name)).config.max_age == EVENTS.config(1).max_age


async def test_same_msg_id_is_stored_once(broker: NatsBroker) -> None:
    """The schedule's guarantee (G2): replicas publishing one slot enqueue one fetch."""
    js = broker.connection.jetstream()
    before = (await js.stream_info(FETCH.name)).state.messages
    command = FetchRequested(account_id=uuid.uuid4(), reason=FetchReason.SCHEDULED)
    slot_id = f"fetch:{command.account_id}:2026-11-27T01:15"
    first = await publish(broker, command, timeout_s=5, msg_id=slot_id)
    second = await publish(broker, command.model_copy(), timeout_s=5, msg_id=slot_id)
    assert (first.duplicate, second.duplicate) == (None, True)
    assert (await js.stream_info(FETCH.name)).state.messages == before + 1
    stored = await js.get_msg(FETCH.name, first.seq)
    assert stored.data is not None
    assert FetchRequested.model_validate_json(stored.data) == command


def test_every_event_subject_has_one_stream() -> None:
    assert stream_for(FetchRequested.subject) is FETCH
    assert stream_for(MailFetched.subject) is EVENTS
    with pytest.raises(LookupError):
        stream_for("elsewhere.subject")
