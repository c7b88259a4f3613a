"""Asking over NATS request/reply (core NATS, never a stream), once for every asker.

The OAuth broker's requests (`oauth_requests`) and the credentials checks (`credential_checks`)
ask the same way: one request, a reply model read from the answer, and a clear failure when
nobody answers. `NoAnswer` names why, in the asker's own words: each kind of request subclasses
it with the two sentences a person should read (nobody listening; too slow).
"""

from typing import ClassVar, TypeVar

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, TypeAdapter

Reply = TypeVar("Reply")


class NoAnswer(Exception):
    """Nobody answered in time: none running, NATS down, or too slow. Subclasses word it."""

    no_responders: ClassVar[str] = "nobody answers {subject}"
    timed_out: ClassVar[str] = "no answer to {subject} within {timeout_s:g} s"


async def ask(
    client: Client,
    subject: str,
    request: BaseModel,
    replies: TypeAdapter[Reply],
    timeout_s: float,
    unavailable: type[NoAnswer] = NoAnswer,
) -> Reply:
    """One request; `unavailable` (a `NoAnswer`) names why when nobody answers in time."""
    try:
        message = await client.request(subject, request.model_dump_json().encode(), timeout=timeout_s)
    except NoRespondersError as error:
        raise unavailable(unavailable.no_responders.format(subject=subject)) from error
    except (TimeoutError, NatsTimeout) as error:
        raise unavailable(unavailable.timed_out.format(subject=subject, timeout_s=timeout_s)) from error
    return replies.validate_json(message.data)
