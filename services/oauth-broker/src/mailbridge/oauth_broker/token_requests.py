"""The token request (ARCHITECTURE.md): fetcher/sender → oauth-broker, account id → access token,
NATS request/reply with a short timeout.

Core NATS, never a stream: a token is a secret and a stream is a log that is kept, so the subject
stays outside every stream's subjects (`mailbridge.oauth.>` is the events stream's).
Every replica listens in one queue group, so each request is answered once.

The reply is one of two frozen models: a granted token, or a refusal whose `error` says what the
requester should do (fail the fetch for a retry, or mark the account for a person). A requester
that gets no reply within its timeout treats it like `unavailable`.

These models belong in libs/common (the requesters may not import a service); they are here until
the first requester arrives (#13), which moves them beside `common/events.py` unchanged.
"""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

TOKEN_REQUEST_SUBJECT = "mailbridge.request.oauth_token.v1"
QUEUE_GROUP = "oauth-broker"


class AccessTokenRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    account_id: uuid.UUID


class Refusal(StrEnum):
    BAD_REQUEST = "bad_request"  # the request does not parse: a bug in the requester
    NOT_CONNECTED = "not_connected"  # no grant is held for the account: connect it (O4)
    NEEDS_RECONNECT = "needs_reconnect"  # the grant is gone (revoked, expired): connect it again
    UNAVAILABLE = "unavailable"  # the identity provider did not answer: try again later


class AccessTokenGranted(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    account_id: uuid.UUID
    access_token: str = Field(repr=False)  # for XOAUTH2; never logged, never in a stream
    expires_at: datetime


class AccessTokenRefused(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    account_id: uuid.UUID | None  # None when the request did not parse
    error: Refusal
    detail: str  # for a person: what happened and what to do

    @property
    def retryable(self) -> bool:
        return self.error is Refusal.UNAVAILABLE


TokenReply = AccessTokenGranted | AccessTokenRefused
TOKEN_REPLY: TypeAdapter[TokenReply] = TypeAdapter(TokenReply)
