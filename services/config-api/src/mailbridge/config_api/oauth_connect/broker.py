"""Asking the OAuth broker over NATS request/reply, and what its silence or refusals mean here.

A connect refused because the account has no OAuth provider is the caller's conflict (409); no
broker, NATS down or a provider that does not answer is 503 with Retry-After, as a manual fetch
during a NATS outage; anything else the broker refuses is 502 (a fault between the services).
"""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from mailbridge.common.oauth_requests import (
    CALLBACK_REPLY,
    CALLBACK_REQUEST_SUBJECT,
    CONNECT_REPLY,
    CONNECT_REQUEST_SUBJECT,
    BrokerUnavailable,
    CallbackReply,
    CallbackRequest,
    ConnectRefused,
    ConnectRequest,
    ConnectStarted,
    FlowRefusal,
    ask,
)
from mailbridge.config_api.commands import RETRY_AFTER_S, UNREACHABLE
from mailbridge.config_api.deps import AppContext
from mailbridge.config_api.errors import ApiError, BadGateway, Conflict, ServiceUnavailable
from nats.aio.client import Client


@dataclass(frozen=True)
class BrokerLine:
    """The NATS connection the requests go out on, and how long one may wait for its answer."""

    client: Client
    timeout_s: float


def _broker_line(request: Request) -> BrokerLine:
    context: AppContext = request.app.state.context
    return BrokerLine(context.broker.connection, context.oauth_broker_timeout_s)


BrokerDep = Annotated[BrokerLine, Depends(_broker_line)]


def unavailable(reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the OAuth broker is unavailable ({reason}); nothing was changed, try again in {RETRY_AFTER_S} s",
        RETRY_AFTER_S,
    )


def connect_refusal(refused: ConnectRefused) -> ApiError:
    if refused.error is FlowRefusal.NOT_OAUTH:
        return Conflict(f"the account cannot be connected: {refused.detail} (S2)")
    if refused.error is FlowRefusal.UNAVAILABLE:
        return unavailable(refused.detail)
    return BadGateway(f"the OAuth broker refused the connect ({refused.error.value}): {refused.detail}")


async def start_connect(line: BrokerLine, account_id: uuid.UUID, redirect_uri: str) -> ConnectStarted:
    """The provider's authorization URL for the account, or the ApiError that says why not."""
    request = ConnectRequest(account_id=account_id, redirect_uri=redirect_uri)
    try:
        reply = await ask(line.client, CONNECT_REQUEST_SUBJECT, request, CONNECT_REPLY, line.timeout_s)
    except BrokerUnavailable as error:
        raise unavailable(str(error)) from error
    except UNREACHABLE as error:
        raise unavailable(f"NATS is unreachable: {str(error) or type(error).__name__}") from error
    if isinstance(reply, ConnectRefused):
        raise connect_refusal(reply)
    return reply


async def finish_callback(line: BrokerLine, params: dict[str, str]) -> CallbackReply:
    """The broker's verdict on the browser's callback; no answer is an `unavailable` refusal."""
    request = CallbackRequest(params=params)
    try:
        return await ask(line.client, CALLBACK_REQUEST_SUBJECT, request, CALLBACK_REPLY, line.timeout_s)
    except BrokerUnavailable as error:
        detail = str(error)
    except UNREACHABLE as error:
        detail = f"NATS is unreachable: {str(error) or type(error).__name__}"
    return ConnectRefused(account_id=None, error=FlowRefusal.UNAVAILABLE, detail=detail)
