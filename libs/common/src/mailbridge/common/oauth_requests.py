"""The OAuth broker's requests (ARCHITECTURE.md), declared once: fetcher, sender, config-api and
the CLI ask; the broker answers. NATS request/reply on core NATS, never a stream: tokens, codes
and PKCE verifiers are secrets and a stream is a log that is kept, so these subjects stay outside
every stream's subjects (`mailbridge.oauth.>` is the events stream's). Every broker replica
listens in one queue group, so each request is answered once.

Each reply is one of a few frozen models (`extra="forbid"`, so the union tells them apart by
shape); a refusal's `error` says what the asker should do and its `detail` says it to a person.
An asker that gets no reply within its timeout treats it like `unavailable` (`ask` does that).

- token: account id → an access token for XOAUTH2 (O4, S2). `rejected` carries the SHA-256 of a
  token the mail server refused: the broker then refreshes once, unless another asker already
  got a newer token, so many workers refused at once cause one refresh.
- connect: account id + redirect URI → the provider's authorization URL (O4, code flow + PKCE).
- callback: the query the provider redirected the browser with → connected, or why not.
- device start / device poll: the device-code flow for headless set-ups
  (`mailbridge oauth connect --device`); each poll asks the provider once.
"""

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Literal, TypeVar

from mailbridge.common import request_reply
from mailbridge.common.request_reply import NoAnswer
from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

TOKEN_REQUEST_SUBJECT = "mailbridge.request.oauth_token.v1"
CONNECT_REQUEST_SUBJECT = "mailbridge.request.oauth_connect.v1"
CALLBACK_REQUEST_SUBJECT = "mailbridge.request.oauth_callback.v1"
DEVICE_START_SUBJECT = "mailbridge.request.oauth_device_start.v1"
DEVICE_POLL_SUBJECT = "mailbridge.request.oauth_device_poll.v1"
QUEUE_GROUP = "oauth-broker"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def token_fingerprint(access_token: str) -> str:
    """What an asker sends back in `rejected`: the token never travels twice."""
    return hashlib.sha256(access_token.encode()).hexdigest()


# --- token ---------------------------------------------------------------------------------


class AccessTokenRequest(_Frozen):
    account_id: uuid.UUID
    rejected: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")  # token_fingerprint(…)


class Refusal(StrEnum):
    BAD_REQUEST = "bad_request"  # the request does not parse: a bug in the requester
    NOT_CONNECTED = "not_connected"  # no grant is held for the account: connect it (O4)
    NEEDS_RECONNECT = "needs_reconnect"  # the grant is gone (revoked, expired): connect it again
    UNAVAILABLE = "unavailable"  # the identity provider or the broker did not answer: try again later


class AccessTokenGranted(_Frozen):
    account_id: uuid.UUID
    access_token: str = Field(repr=False)  # for XOAUTH2; never logged, never in a stream
    expires_at: datetime


class AccessTokenRefused(_Frozen):
    account_id: uuid.UUID | None  # None when the request did not parse
    error: Refusal
    detail: str  # for a person: what happened and what to do

    @property
    def retryable(self) -> bool:
        return self.error is Refusal.UNAVAILABLE


TokenReply = AccessTokenGranted | AccessTokenRefused
TOKEN_REPLY: TypeAdapter[TokenReply] = TypeAdapter(TokenReply)


# --- connect (authorization code + PKCE), callback, device code --------------------------------


class FlowRefusal(StrEnum):
    BAD_REQUEST = "bad_request"  # the request does not parse
    NOT_OAUTH = "not_oauth"  # no such account, or its server has no OAuth provider (S2)
    STATE_UNKNOWN = "state_unknown"  # no flow has this state: never started, already finished, or forged
    FLOW_EXPIRED = "flow_expired"  # the flow was started too long ago: connect again
    CONSENT_DENIED = "consent_denied"  # the person declined, or the provider answered with an error
    WRONG_MAILBOX = "wrong_mailbox"  # signed in as another mailbox than the account's login (O4)
    CODE_REJECTED = "code_rejected"  # the provider refused to redeem the code (replayed, expired)
    UNAVAILABLE = "unavailable"  # the provider or the broker did not answer: try again later


class ConnectRequest(_Frozen):
    account_id: uuid.UUID
    redirect_uri: str = Field(min_length=1, max_length=2000)  # {MAILBRIDGE_PUBLIC_URL}/oauth/callback


class ConnectStarted(_Frozen):
    account_id: uuid.UUID
    authorization_url: str
    expires_at: datetime  # the flow (its state, PKCE verifier and nonce) is forgotten then


class ConnectRefused(_Frozen):
    account_id: uuid.UUID | None
    error: FlowRefusal
    detail: str


class CallbackRequest(_Frozen):
    params: dict[str, str]  # the callback's query as received: state, code, error, error_description …


class ConnectFinished(_Frozen):
    account_id: uuid.UUID
    login: str  # the mailbox that signed in: the account's login (O4 "the same e-mail account")


class DeviceStartRequest(_Frozen):
    account_id: uuid.UUID


class DeviceFlowStarted(_Frozen):
    account_id: uuid.UUID
    flow_id: str  # what the asker polls with
    user_code: str
    verification_uri: str
    message: str  # the provider's instruction for the person
    expires_at: datetime
    interval_s: int  # poll no more often than this


class DevicePollRequest(_Frozen):
    flow_id: str = Field(min_length=1, max_length=200)


class DevicePending(_Frozen):
    flow_id: str
    pending: Literal[True] = True  # the person has not finished signing in yet


ConnectReply = ConnectStarted | ConnectRefused
CONNECT_REPLY: TypeAdapter[ConnectReply] = TypeAdapter(ConnectReply)
CallbackReply = ConnectFinished | ConnectRefused
CALLBACK_REPLY: TypeAdapter[CallbackReply] = TypeAdapter(CallbackReply)
DeviceStartReply = DeviceFlowStarted | ConnectRefused
DEVICE_START_REPLY: TypeAdapter[DeviceStartReply] = TypeAdapter(DeviceStartReply)
DevicePollReply = ConnectFinished | DevicePending | ConnectRefused
DEVICE_POLL_REPLY: TypeAdapter[DevicePollReply] = TypeAdapter(DevicePollReply)


# --- asking ---------------------------------------------------------------------------------

Reply = TypeVar("Reply")


class BrokerUnavailable(NoAnswer):
    """No broker answered in time (none running, NATS down, or too slow)."""

    no_responders = "no OAuth broker is running (no responder on NATS)"
    timed_out = "the OAuth broker did not answer within {timeout_s:g} s"


async def ask(
    client: Client, subject: str, request: BaseModel, replies: TypeAdapter[Reply], timeout_s: float
) -> Reply:
    """One request to the broker; BrokerUnavailable names why when none answers in time."""
    return await request_reply.ask(client, subject, request, replies, timeout_s, BrokerUnavailable)


async def request_access_token(
    client: Client, account_id: uuid.UUID, timeout_s: float, rejected: str | None = None
) -> TokenReply:
    """The fetcher's and sender's question; no answer becomes an `unavailable` refusal."""
    request = AccessTokenRequest(account_id=account_id, rejected=rejected)
    try:
        return await ask(client, TOKEN_REQUEST_SUBJECT, request, TOKEN_REPLY, timeout_s)
    except BrokerUnavailable as error:
        return AccessTokenRefused(account_id=account_id, error=Refusal.UNAVAILABLE, detail=str(error))


class BrokerTokens:
    """`request_access_token` as the fetcher's and the sender's token source (their TokenSource
    port): the NATS client is taken when asked, since a service connects after it is wired."""

    def __init__(self, client: Callable[[], Client], timeout_s: float) -> None:
        self._client, self._timeout_s = client, timeout_s

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        return await request_access_token(self._client(), account_id, self._timeout_s, rejected)
