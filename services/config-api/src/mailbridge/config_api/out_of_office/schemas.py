"""Out-of-office request and response bodies (A12); problems name the field and the rule."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from mailbridge.config_api.fields import NoControlCharacters, in_range
from mailbridge.config_api.schemas import RequestModel, example
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field
from pydantic_core import PydanticCustomError

RULE = "A12"
MAX_SUBJECT = 200  # the reply's subject adds ": " and the original subject
MAX_BODY = 10_000
DEFAULT_SUBJECT = "Out of office"
DEFAULT_INTERVAL_DAYS = 7


def _length(low: int, high: int) -> AfterValidator:
    def check(value: str) -> str:
        if not low <= len(value) <= high:
            raise PydanticCustomError(
                RULE, "must be {low} to {high} characters long", {"low": low, "high": high}
            )
        return value

    return AfterValidator(check)


def _stripped(value: str) -> str:
    return value.strip()


def _in_utc(value: datetime) -> datetime:
    """Stored in UTC: a time whose UTC equivalent falls outside years 1–9999 is refused, not a 500."""
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise PydanticCustomError(RULE, "out of range once converted to UTC") from error


# Control characters are refused before stripping (NoControlCharacters runs first), so a trailing
# line break is an error rather than trimmed away: the subject goes into a header.
Subject = Annotated[str, AfterValidator(_stripped), _length(1, MAX_SUBJECT), NoControlCharacters]
Body = Annotated[str, _length(0, MAX_BODY)]
Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class OutOfOfficeIn(RequestModel):
    """The whole out-of-office (PUT replaces it). While `enabled`, each newly fetched message in the
    inbox gets one reply (RFC 3834 rules), at most one per sender every `reply_interval_days`,
    between `starts_at` and `ends_at` when given (times with a zone). Cross-field rules (the end
    after the start, a body while enabled) are `service.problems`."""

    model_config = example(
        enabled=True, subject="Out of office until 12 May",
        body="I am out of the office until 12 May. For urgent matters, write to sales@example.com.",
        starts_at="2026-05-04T00:00:00+02:00", ends_at="2026-05-12T00:00:00+02:00", reply_interval_days=7,
    )  # fmt: skip
    enabled: bool
    subject: Subject = Field(description="the reply's subject is this, ': ' and the original subject")
    body: Body = Field(description="the reply's text; needed while enabled")
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    reply_interval_days: Annotated[int, in_range(RULE, 1, 365)] = DEFAULT_INTERVAL_DAYS


class OutOfOfficeOut(BaseModel):
    account_id: uuid.UUID
    enabled: bool
    subject: str
    body: str
    starts_at: datetime | None
    ends_at: datetime | None
    reply_interval_days: int
    active: bool = Field(description="enabled and now within the period: fetched mail is answered")
    may_set: bool = Field(description="the account's can_set_out_of_office (A12); off: PUT answers 403")
    updated_at: datetime | None = Field(description="None: never set, these are the defaults")
