"""One way to ask over NATS request/reply (common.request_reply), against a real NATS server:
the reply model is read from the answer, and nobody answering is a `NoAnswer` worded by the
asker's own subclass (the broker's and the credentials checks' wording, T1 / O4)."""

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from mailbridge.common.credential_checks import CheckUnavailable
from mailbridge.common.oauth_requests import BrokerUnavailable
from mailbridge.common.request_reply import NoAnswer, ask
from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import BaseModel, TypeAdapter


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    echoed: str


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    yield connection
    await connection.drain()


def _subject() -> str:
    return f"mailbridge.request.test_{uuid.uuid4().hex}.v1"


async def test_the_reply_model_is_read_from_the_answer(client: Client) -> None:
    subject = _subject()

    async def echo(message: Msg) -> None:
        asked = Question.model_validate_json(message.data)
        await message.respond(Answer(echoed=asked.text).model_dump_json().encode())

    subscription = await client.subscribe(subject, cb=echo)
    try:
        reply = await ask(client, subject, Question(text="hallo"), TypeAdapter(Answer), 5)
    finally:
        await subscription.unsubscribe()
    assert reply == Answer(echoed="hallo")


@pytest.mark.parametrize(
    ("unavailable", "wording"),
    [
        (NoAnswer, "nobody answers mailbridge.request.test_"),
        (CheckUnavailable, "(no fetcher or sender running)"),
        (BrokerUnavailable, "no OAuth broker is running (no responder on NATS)"),
    ],
)
async def test_nobody_listening_is_named_in_the_askers_words(
    client: Client, unavailable: type[NoAnswer], wording: str
) -> None:
    with pytest.raises(unavailable) as raised:
        await ask(client, _subject(), Question(text="x"), TypeAdapter(Answer), 5, unavailable)
    assert wording in str(raised.value)


@pytest.mark.parametrize(
    ("unavailable", "wording"),
    [
        (CheckUnavailable, "no answer to mailbridge.request.test_"),
        (BrokerUnavailable, "the OAuth broker did not answer within 0.2 s"),
    ],
)
async def test_a_silent_listener_times_out_in_the_askers_words(
    client: Client, unavailable: type[NoAnswer], wording: str
) -> None:
    subject = _subject()

    async def silent(message: Msg) -> None:
        del message

    subscription = await client.subscribe(subject, cb=silent)
    try:
        with pytest.raises(unavailable) as raised:
            await ask(client, subject, Question(text="x"), TypeAdapter(Answer), 0.2, unavailable)
    finally:
        await subscription.unsubscribe()
    assert wording in str(raised.value)
