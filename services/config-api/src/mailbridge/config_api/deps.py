"""FastAPI dependencies: the request's database session, the caller, the secret box."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from faststream.nats import NatsBroker
from mailbridge.common.secrets import SecretBox
from mailbridge.config_api.api_keys import Principal
from mailbridge.config_api.errors import Forbidden, Unauthorized
from mailbridge.config_api.guard import PRINCIPAL
from mailbridge.config_api.resource import Ctx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True)
class AppContext:
    """What the composition root hands to every request."""

    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    broker: NatsBroker
    publish_timeout_s: float
    # Set after a commit that wrote outbox events: the service's relay publishes them at once
    # instead of at its next idle poll.
    relay_wake: asyncio.Event
    public_url: str | None  # MAILBRIDGE_PUBLIC_URL; None: each request's base URL stands in
    oauth_broker_timeout_s: float


def public_url(request: Request) -> str:
    """Where browsers reach this API: MAILBRIDGE_PUBLIC_URL (`mailbridge run` sets it to the API's
    own address), else, as a fallback for a bare `mailbridge serve`, the base URL this request
    came to, without a trailing slash."""
    configured = _context(request).public_url
    return (configured or str(request.base_url)).rstrip("/")


def _context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _context(request).sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]


def _relay_wake(request: Request) -> asyncio.Event:
    return _context(request).relay_wake


RelayWakeDep = Annotated[asyncio.Event, Depends(_relay_wake)]


def _secrets(request: Request) -> SecretBox:
    return _context(request).secrets


SecretsDep = Annotated[SecretBox, Depends(_secrets)]


def _principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The caller, authenticated by the request guard before any body was read (`authorization`
    is declared here so that the API document shows the header)."""
    principal = getattr(request.state, PRINCIPAL, None)
    if not isinstance(principal, Principal):
        raise Unauthorized("missing Authorization: Bearer <api key>")
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]


def _admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs an admin API key")
    return principal


AdminDep = Annotated[Principal, Depends(_admin)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


def _ctx(request: Request, session: SessionDep, secrets: SecretsDep, principal: PrincipalDep) -> Ctx:
    return Ctx(session, secrets, principal, public_url(request))


CtxDep = Annotated[Ctx, Depends(_ctx)]


@dataclass(frozen=True)
class Messaging:
    broker: NatsBroker
    timeout_s: float


def _messaging(request: Request) -> Messaging:
    context = _context(request)
    return Messaging(context.broker, context.publish_timeout_s)


MessagingDep = Annotated[Messaging, Depends(_messaging)]
