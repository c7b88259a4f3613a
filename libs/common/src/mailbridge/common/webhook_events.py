"""The events a business app may receive by webhook (#18), by the name it registers them under.

config-api reads them from one durable consumer on the events stream (`consumers.WEBHOOK_QUEUE`)
with several subject filters; the pull loop parses each as a loose `AnyEvent` (identity and time
only) and `parse_event` then reads it as the model its NATS subject names.
"""

from typing import ClassVar

from mailbridge.common.events import (
    AccountStateChanged,
    MailFetched,
    MailSent,
    Message,
    SendFailed,
    TokenRefreshed,
)
from pydantic import ConfigDict

WEBHOOK_EVENTS: dict[str, type[Message]] = {
    model.__name__: model
    for model in (MailFetched, MailSent, SendFailed, AccountStateChanged, TokenRefreshed)
}
_BY_SUBJECT = {model.subject: model for model in WEBHOOK_EVENTS.values()}


class AnyEvent(Message):
    """Any of `WEBHOOK_EVENTS`, read for its identity only (its own fields are allowed, unread)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    subject: ClassVar[str] = MailFetched.subject  # a subject of the events stream, for binding


def parse_event(subject: str, data: bytes) -> tuple[str, Message] | None:
    """(the registered name, the event) for a subject of `WEBHOOK_EVENTS`; None for any other."""
    model = _BY_SUBJECT.get(subject)
    return None if model is None else (model.__name__, model.model_validate_json(data))
