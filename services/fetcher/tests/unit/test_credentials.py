"""How a fetch logs in (S2, O4): the password, or broker tokens with one retry after a refused
one; the broker's refusals as failures; scheduled fetches of unconnected OAuth accounts wait."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from fetcher_testing import ACCOUNT
from mailbridge.common.events import FetchReason
from mailbridge.common.oauth_requests import (
    AccessTokenGranted,
    AccessTokenRefused,
    Refusal,
    TokenReply,
    token_fingerprint,
)
from mailbridge.fetcher.credentials import signed_in
from mailbridge.fetcher.failures import FetchFailure, Kind, TokenRejected
from mailbridge.fetcher.fetch_account import refusal
from mailbridge.fetcher.model import Credentials, Mechanism

OAUTH = replace(ACCOUNT, password=None, uses_oauth=True, oauth_state="connected")


@dataclass
class Broker:
    """A token source handing out `tokens` in turn, or refusing with `refusal`; keeps the asks."""

    tokens: list[str] = field(default_factory=lambda: ["first", "second", "third"])
    refusal: Refusal | None = None
    asked: list[str | None] = field(default_factory=list)

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        self.asked.append(rejected)
        if self.refusal is not None:
            return AccessTokenRefused(account_id=account_id, error=self.refusal, detail="consent revoked")
        token = self.tokens[len(self.asked) - 1]
        return AccessTokenGranted(account_id=account_id, access_token=token, expires_at=datetime.now(UTC))


@dataclass
class Server:
    """Logs in whoever brings a secret in `accepted`; keeps what was tried and what was closed."""

    accepted: set[str]
    tried: list[Credentials] = field(default_factory=list)
    closed: int = 0

    @asynccontextmanager
    async def connect(self, credentials: Credentials) -> AsyncIterator[str]:
        self.tried.append(credentials)
        if credentials.secret not in self.accepted:
            raise TokenRejected(
                Kind.PERMANENT, "OAuth login as u rejected: NO [AUTHENTICATIONFAILED] (status 401)"
            )
        try:
            yield f"session of {credentials.secret}"
        finally:
            self.closed += 1


async def test_s2_a_token_the_server_refuses_is_asked_for_again_once_and_the_next_one_logs_in() -> None:
    broker, server = Broker(), Server({"second"})
    async with signed_in(OAUTH, broker, server.connect) as session:
        assert session == "session of second"
    assert broker.asked == [None, token_fingerprint("first")]
    assert [c.mechanism for c in server.tried] == [Mechanism.XOAUTH2, Mechanism.XOAUTH2]
    assert server.closed == 1


async def test_s2_a_refreshed_token_refused_too_is_a_transient_failure_quoting_the_server_not_a_loop() -> (
    None
):
    broker, server = Broker(), Server(set())
    with pytest.raises(FetchFailure) as failed:
        async with signed_in(OAUTH, broker, server.connect):
            pytest.fail("never logged in")
    assert failed.value.kind is Kind.TRANSIENT
    assert failed.value.reason == (
        "OAuth login as u rejected: NO [AUTHENTICATIONFAILED] (status 401) (a freshly refreshed token too)"
    )
    assert broker.asked == [None, token_fingerprint("first")]
    assert len(server.tried) == 2


@pytest.mark.parametrize(
    ("refused", "kind", "reason"),
    [
        (Refusal.NEEDS_RECONNECT, Kind.NEEDS_CONNECT,
         "the account must be connected again at its OAuth provider (O4): consent revoked"),
        (Refusal.NOT_CONNECTED, Kind.NEEDS_CONNECT,
         "the account must be connected at its OAuth provider (O4): consent revoked"),
        (Refusal.UNAVAILABLE, Kind.TRANSIENT, "no OAuth access token for now: consent revoked"),
        (Refusal.BAD_REQUEST, Kind.PERMANENT,
         "the OAuth broker refused the token request (bad_request): consent revoked"),
    ],
)  # fmt: skip
async def test_o4_a_broker_refusal_ends_the_login_before_any_connection(
    refused: Refusal, kind: Kind, reason: str
) -> None:
    broker, server = Broker(refusal=refused), Server({"first"})
    with pytest.raises(FetchFailure) as failed:
        async with signed_in(OAUTH, broker, server.connect):
            pytest.fail("never logged in")
    assert (failed.value.kind, failed.value.reason) == (kind, reason)
    assert failed.value.retryable is (kind is Kind.TRANSIENT)
    assert broker.asked == [None]
    assert server.tried == []


async def test_a3_a_password_account_asks_no_broker() -> None:
    broker, server = Broker(), Server({"p"})
    async with signed_in(ACCOUNT, broker, server.connect) as session:
        assert session == "session of p"
    assert broker.asked == []
    assert server.tried == [Credentials("u", "p", Mechanism.PASSWORD)]


async def test_a3_a_password_account_without_a_password_is_a_permanent_failure() -> None:
    with pytest.raises(FetchFailure) as failed:
        async with signed_in(replace(ACCOUNT, password=None), Broker(), Server(set()).connect):
            pytest.fail("never logged in")
    assert (failed.value.kind, failed.value.reason) == (Kind.PERMANENT, "the account has no password (A3)")


def test_credentials_never_show_the_secret() -> None:
    assert "s3cret" not in repr(Credentials("u", "s3cret", Mechanism.XOAUTH2))


@pytest.mark.parametrize("state", ["disconnected", "needs_reconnect"])
def test_o4_scheduled_fetches_of_an_unconnected_oauth_account_wait(state: str) -> None:
    account = replace(OAUTH, oauth_state=state, oauth_reason="AADSTS50173: the grant was revoked")
    assert refusal(FetchReason.SCHEDULED, account, None) == (
        "waiting for the account to be connected (O4): AADSTS50173: the grant was revoked"
    )
    assert refusal(FetchReason.MANUAL, account, None) is None, "a person asking gets the broker's answer"
    assert refusal(FetchReason.TEST, account, None) is None
    assert refusal(FetchReason.SCHEDULED, OAUTH, None) is None
