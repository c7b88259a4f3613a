"""A stand-in for the OAuth broker on the real wire: it subscribes to the broker's subjects on a
real NATS, keeps every request it got, and answers each from a script (the last reply repeats)."""

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import nats
from nats.aio.msg import Msg
from pydantic import BaseModel

Script = Mapping[str, Sequence[BaseModel]]  # subject → its replies in order, the last one repeated


class BrokerDouble:
    def __init__(self, script: Script) -> None:
        self._script = {subject: list(replies) for subject, replies in script.items()}
        self.received: dict[str, list[dict[str, Any]]] = {subject: [] for subject in script}

    async def answer(self, message: Msg) -> None:
        self.received[message.subject].append(json.loads(message.data))
        replies = self._script[message.subject]
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        await message.respond(reply.model_dump_json().encode())


@asynccontextmanager
async def broker_double(nats_url: str, script: Script) -> AsyncIterator[BrokerDouble]:
    """Listening on every subject of `script` once entered (the subscriptions are flushed)."""
    double = BrokerDouble(script)
    client = await nats.connect(nats_url)
    try:
        for subject in script:
            await client.subscribe(subject, cb=double.answer)
        await client.flush()
        yield double
    finally:
        await client.close()
