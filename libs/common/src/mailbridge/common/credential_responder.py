"""Answering the credentials test's requests (T1, `credential_checks`) on core NATS: one
subscription per subject in the service's queue group (each request answered by one replica),
every request in a task of its own, so a receive that waits a minute for its message holds up no
other test. A request that does not parse, or a check that breaks, still gets an answer: a
`CheckRefused` saying why (the traceback goes to the log)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mailbridge.common.credential_checks import CheckRefused, Reply
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)
Request = TypeVar("Request", bound=BaseModel)


@dataclass(frozen=True)
class Answering(Generic[Request]):
    """Requests on `subject`, parsed as `model`, answered by `work`."""

    subject: str
    model: type[Request]
    work: Callable[[Request], Awaitable[Reply]]


class CredentialResponder:
    """Subscribes on `start`; on `stop` unsubscribes and ends the checks still running."""

    def __init__(self, queue_group: str, answering: list[Answering[Any]]) -> None:
        self._queue_group, self._answering = queue_group, answering
        self._subscriptions: list[Subscription] = []
        self._running: set[asyncio.Task[None]] = set()

    async def start(self, client: Client) -> None:
        for each in self._answering:
            subscription = await client.subscribe(each.subject, self._queue_group, cb=self._spawner(each))
            self._subscriptions.append(subscription)

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions.clear()
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def _spawner(self, answering: Answering[Any]) -> Callable[[Msg], Awaitable[None]]:
        async def on_request(message: Msg) -> None:
            task = asyncio.get_running_loop().create_task(answer(message, answering))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

        return on_request


async def answer(message: Msg, answering: Answering[Any]) -> None:
    """Parse, run, reply."""
    try:
        request = answering.model.model_validate_json(message.data)
    except ValidationError as error:
        refused = CheckRefused(account_id=None, detail=f"bad request: {error}")
        await message.respond(refused.model_dump_json().encode())
        return
    try:
        reply = await answering.work(request)
    except Exception as error:  # the asker gets an answer, the log the traceback
        logger.exception("credential check failed unexpectedly")
        detail = f"unexpected error: {type(error).__name__}: {error}"
        reply = CheckRefused(account_id=getattr(request, "account_id", None), detail=detail)
    await message.respond(reply.model_dump_json().encode())
