"""A real HTTP receiver of webhooks on loopback (#18), served by uvicorn in a thread.

It records every request (path, headers, body) and answers with the next of its planned answers:
a status code, or `HANG` to keep the request waiting past the sender's timeout; once the plan is
spent, it answers 204. Tests verify what arrived with the Standard Webhooks reference
implementation and wait for requests with `await receiver.received(n)`.
"""

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

HANG = -1  # a planned answer: no answer until the receiver stops (or 60 s pass)
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._plan: list[int] = []
        self._stopping = threading.Event()
        self.url = ""

    def plan(self, *answers: int) -> None:
        """The answers to the next requests, in order (`HANG` for no answer)."""
        with self._lock:
            self._plan = list(answers)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    async def received(self, count: int, within_s: float = 30.0) -> list[Received]:
        """The first `count` requests, once that many have arrived."""
        async with asyncio.timeout(within_s):
            while len(self.requests) < count:  # noqa: ASYNC110 - filled by the server thread, polled
                await asyncio.sleep(0.02)
        return self.requests[:count]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            self._requests.append(Received(scope["path"], headers, body))
            answer = self._plan.pop(0) if self._plan else 204
        if answer == HANG:
            deadline = time.monotonic() + 60
            while not self._stopping.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110 - a thread event
                await asyncio.sleep(0.05)
            answer = 503
        await send({"type": "http.response.start", "status": answer, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A receiver listening on a free port of 127.0.0.1 for the `with` block; its `url` ends in /hook."""
    receiver = WebhookReceiver()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    receiver.url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    config = uvicorn.Config(
        receiver, log_level="warning", access_log=False, lifespan="off", loop="asyncio", http="h11",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, args=([listener],), name="webhook-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the webhook receiver did not start")
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        receiver._stopping.set()
        server.should_exit = server.force_exit = True
        thread.join(timeout=10)
        listener.close()
