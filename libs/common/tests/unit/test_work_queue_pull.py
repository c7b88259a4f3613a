"""The pull loop of `work_queue.PullConsumer` outlives any failure of a pull (a fake subscription:
the real server's failures are in the integration tests)."""

import asyncio
import uuid

import pytest
from mailbridge.common import work_queue
from mailbridge.common.events import SendRequested
from mailbridge.common.work_queue import PullConsumer
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig


class FlakySubscription:
    """Fails its first pull with an error nobody planned for, then hands out one command."""

    def __init__(self, command: SendRequested) -> None:
        self.pulls = 0
        self.command = command

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:  # noqa: ASYNC109 - nats-py's signature
        self.pulls += 1
        if self.pulls == 1:
            raise RuntimeError("something unforeseen")
        if self.pulls == 2:
            return [Msg(_client=None, data=self.command.model_dump_json().encode())]  # type: ignore[arg-type]
        await asyncio.sleep(3600)
        return []


async def test_an_unforeseen_pull_failure_is_logged_and_the_loop_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(work_queue, "RETRY_PULL_S", 0.01)
    handled = asyncio.Event()
    command = SendRequested(outbox_id=uuid.uuid4())

    async def handle(body: SendRequested, message: Msg) -> None:
        assert body == command
        handled.set()

    consumer = PullConsumer(SendRequested, handle, durable="unit", config=ConsumerConfig(), workers=2)
    loop = asyncio.create_task(consumer._pull(FlakySubscription(command)))  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(handled.wait(), 5)
    finally:
        loop.cancel()
    assert any(
        record.exc_info and "something unforeseen" in str(record.exc_info[1]) for record in caplog.records
    )
