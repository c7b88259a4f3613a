"""IMAP and POP3 fetches with XOAUTH2 against Dovecot checking the identity provider's tokens
(S2, O4), with a token source on the real NATS wire (`testkit.token_desk.TokenDesk`): the seeded mail
is stored; a token the server refuses (expired, forged) is asked for again once, with its
fingerprint, and the fresh one logs in; refused twice is a clear failure, not a loop; a broker
that says the account needs reconnecting ends the fetch at once, recorded, without a retry."""

import base64
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import nats
import pytest
from fetcher_testing import FetchWorld, fetch_deps, message, no_heartbeat
from hostile_accounts import fetch_state
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.events import FetchReason, MailboxAction, MailboxChangeRequested
from mailbridge.common.oauth_requests import BrokerTokens, Refusal, token_fingerprint
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.xoauth2 import initial_response
from mailbridge.fetcher.adapters.imap_connections import ImapConnections
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.changes import apply_change
from mailbridge.fetcher.fetch_account import Outcome, fetch_account
from mailbridge.fetcher.sync import Limits
from mailbridge.testkit.config_rows import empty_tables, make_oauth
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_mail import OAuthMailStack
from mailbridge.testkit.oauth_mail_config import IMAP_SCOPE, POP_SCOPE
from mailbridge.testkit.token_desk import TokenDesk, granted, refused
from mailbridge.testkit.users import MailUser

SCOPES = {"imap": IMAP_SCOPE, "pop3": POP_SCOPE}


@pytest.fixture
async def oauth_world(
    migrated_url: str, oauth_mail_stack: OAuthMailStack, nats_url: str
) -> AsyncIterator[FetchWorld]:
    engine = create_engine(migrated_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    client = await nats.connect(nats_url)
    limits = Limits(batch_count=7, batch_bytes=64 * 1024, lease_ttl=timedelta(seconds=30))
    secrets = SecretBox([generate_key()])
    deps = fetch_deps(MailStore(sessions, secrets), oauth_mail_stack.client_context(), "oauth", limits, 10.0)
    deps = replace(deps, tokens=BrokerTokens(lambda: client, 5.0))
    yield FetchWorld(sessions, secrets, deps, oauth_mail_stack)
    await client.close()
    await engine.dispose()


@pytest.fixture
async def desk(nats_url: str) -> AsyncIterator[TokenDesk]:
    desk = TokenDesk([])
    await desk.start(nats_url)
    yield desk
    await desk.stop()


async def oauth_account(
    world: FetchWorld, user: MailUser, protocol: str, state: str = "connected"
) -> uuid.UUID:
    account = await world.account(user, protocol)
    await make_oauth(world.sessions, account, state)
    return account


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_o4_a_fetch_with_xoauth2_stores_the_seeded_mail(
    oauth_world: FetchWorld, oauth_mail_user: MailUser, identity_provider: LocalIdentityProvider,
    desk: TokenDesk, protocol: str,
) -> None:  # fmt: skip
    seeded = [message(i, oauth_mail_user.address) for i in range(3)]
    oauth_world.stack.seed(oauth_mail_user.address, seeded)
    desk.answers = [granted(identity_provider.mint_access_token(oauth_mail_user.address, [SCOPES[protocol]]))]
    account = await oauth_account(oauth_world, oauth_mail_user, protocol)
    result = await oauth_world.fetch(account, FetchReason.TEST)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert sorted(m.raw for m in await oauth_world.stored(account)) == sorted(seeded)
    assert [r.rejected for r in desk.requests] == [None]


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
@pytest.mark.parametrize("first", ["expired", "forged", "another mailbox's"])
async def test_o4_a_refused_token_is_asked_for_again_once_and_the_fresh_one_logs_in(
    oauth_world: FetchWorld, oauth_mail_user: MailUser, identity_provider: LocalIdentityProvider,
    desk: TokenDesk, protocol: str, first: str,
) -> None:  # fmt: skip
    oauth_world.stack.seed(oauth_mail_user.address, [message(1, oauth_mail_user.address)])
    scope = SCOPES[protocol]
    fresh = identity_provider.mint_access_token(oauth_mail_user.address, [scope])
    bad = {
        "expired": identity_provider.mint_access_token(oauth_mail_user.address, [scope], expires_in_s=-600),
        "forged": forged(identity_provider.mint_access_token(oauth_mail_user.address, [scope])),
        "another mailbox's": identity_provider.mint_access_token(f"other-{oauth_mail_user.address}", [scope]),
    }[first]
    desk.answers = [granted(bad), granted(fresh)]
    account = await oauth_account(oauth_world, oauth_mail_user, protocol)
    result = await oauth_world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert len(await oauth_world.stored(account)) == 1
    assert [r.rejected for r in desk.requests] == [None, token_fingerprint(bad)]


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_o4_a_token_refused_twice_is_a_clear_failure_not_a_loop(
    oauth_world: FetchWorld, oauth_mail_user: MailUser, identity_provider: LocalIdentityProvider,
    desk: TokenDesk, protocol: str,
) -> None:  # fmt: skip
    expired = identity_provider.mint_access_token(
        oauth_mail_user.address, [SCOPES[protocol]], expires_in_s=-600
    )
    desk.answers = [granted(expired)]
    account = await oauth_account(oauth_world, oauth_mail_user, protocol)
    result = await oauth_world.fetch(account)
    assert result.outcome is Outcome.RETRY, "a later attempt, with backoff, not now"
    state = await fetch_state(oauth_world, account)
    assert state is not None
    assert (state.status, state.permanent) == ("failed", False)
    assert state.reason is not None
    assert f"login as {oauth_mail_user.address}" in state.reason
    assert "(a freshly refreshed token too)" in state.reason
    assert "Authentication failed" in state.reason or "AUTH" in state.reason, state.reason
    assert [r.rejected for r in desk.requests] == [None, token_fingerprint(expired)]
    assert expired not in state.reason


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_o4_needs_reconnect_fails_the_fetch_at_once_with_the_reason_and_no_retry(
    oauth_world: FetchWorld,
    oauth_mail_user: MailUser,
    desk: TokenDesk,
    protocol: str,
) -> None:
    desk.answers = [
        refused(Refusal.NEEDS_RECONNECT, "AADSTS50173: the grant was revoked; connect the account again")
    ]
    account = await oauth_account(oauth_world, oauth_mail_user, protocol)
    result = await oauth_world.fetch(account)
    assert result.outcome is Outcome.DONE, "acknowledged: no redelivery"
    state = await fetch_state(oauth_world, account)
    assert state is not None
    assert (state.status, state.reason) == (
        "failed",
        "the account must be connected again at its OAuth provider (O4): "
        "AADSTS50173: the grant was revoked; connect the account again",
    )
    assert len(desk.requests) == 1
    await make_oauth_state(oauth_world, account, "needs_reconnect")
    later = await oauth_world.fetch(account, FetchReason.SCHEDULED)
    assert later.outcome is Outcome.SKIPPED, "the schedule waits for the connect"
    assert len(desk.requests) == 1, "no token request while it waits"


async def test_o4_a_broker_that_does_not_answer_is_a_transient_failure(
    oauth_world: FetchWorld,
    oauth_mail_user: MailUser,
) -> None:
    account = await oauth_account(oauth_world, oauth_mail_user, "imap")
    result = await oauth_world.fetch(account)
    assert result.outcome is Outcome.RETRY
    assert result.reason == "no OAuth access token for now: no OAuth broker is running (no responder on NATS)"


async def test_s2_a_kept_connection_serves_the_next_fetch_whatever_its_token(
    oauth_world: FetchWorld, oauth_mail_user: MailUser, identity_provider: LocalIdentityProvider,
    desk: TokenDesk,
) -> None:  # fmt: skip
    login = oauth_mail_user.address
    desk.answers = [
        granted(identity_provider.mint_access_token(login, [IMAP_SCOPE], expires_in_s=e)) for e in (600, 900)
    ]
    account = await oauth_account(oauth_world, oauth_mail_user, "imap")
    connections = ImapConnections(keep=4)
    keeping = replace(oauth_world.deps, connections=connections)
    try:
        for _ in range(2):
            result = await fetch_account(keeping, account, FetchReason.MANUAL, no_heartbeat)
            assert (result.outcome, result.reason) == (Outcome.DONE, None)
    finally:
        await connections.close_all()
    assert len({r.account_id for r in desk.requests}) == len(desk.requests) // 2 == 1, (
        "a token asked for each fetch"
    )
    log = oauth_world.stack.dovecot_log.read_text()
    assert log.count(f"Login: user=<{login}>") == 1, "the second token needed no second login"


async def make_oauth_state(world: FetchWorld, account_id: uuid.UUID, state: str) -> None:
    async with world.sessions() as session:
        row = await session.get(MailAccount, account_id)
        assert row is not None
        row.oauth_state = state
        await session.commit()


def forged(token: str) -> str:
    """The token with another signature: the same claims, not signed by the provider."""
    header, claims, _ = token.split(".")
    return f"{header}.{claims}.{base64.urlsafe_b64encode(b'x' * 256).rstrip(b'=').decode()}"


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_o4_no_token_reaches_a_log_line_even_at_debug(
    oauth_world: FetchWorld, oauth_mail_user: MailUser, identity_provider: LocalIdentityProvider,
    desk: TokenDesk, protocol: str, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    scope = SCOPES[protocol]
    expired = identity_provider.mint_access_token(oauth_mail_user.address, [scope], expires_in_s=-600)
    fresh = identity_provider.mint_access_token(oauth_mail_user.address, [scope])
    desk.answers = [granted(expired), granted(fresh)]
    account = await oauth_account(oauth_world, oauth_mail_user, protocol)
    with caplog.at_level(logging.DEBUG):
        result = await oauth_world.fetch(account)
    assert result.outcome is Outcome.DONE
    assert protocol == "pop3" or "Sending : " in caplog.text, "aioimaplib's own debug lines are in"
    for token in (expired, fresh):
        for secret in (token, initial_response(oauth_mail_user.address, token).decode()):
            assert secret not in caplog.text


async def test_s2_a_change_on_the_server_logs_in_with_a_token_too(
    oauth_world: FetchWorld, oauth_mail_user: MailUser, identity_provider: LocalIdentityProvider,
    desk: TokenDesk,
) -> None:  # fmt: skip
    oauth_world.stack.seed(oauth_mail_user.address, [message(1, oauth_mail_user.address)])
    desk.answers = [granted(identity_provider.mint_access_token(oauth_mail_user.address, [IMAP_SCOPE]))]
    account = await oauth_account(oauth_world, oauth_mail_user, "imap")
    assert (await oauth_world.fetch(account)).outcome is Outcome.DONE
    (stored,) = await oauth_world.stored(account)
    seen = MailboxChangeRequested(message_id=stored.id, action=MailboxAction.MARK_SEEN)
    assert (await apply_change(oauth_world.deps, seen)).outcome is Outcome.DONE
    with oauth_world.stack.imap(oauth_mail_user) as imap:
        imap.select("INBOX")
        _, flags = imap.uid("FETCH", "1", "(FLAGS)")
    assert b"\\Seen" in flags[0]
    desk.answers = [refused(Refusal.NEEDS_RECONNECT, "the grant was revoked")]
    unseen = MailboxChangeRequested(message_id=stored.id, action=MailboxAction.MARK_UNSEEN)
    refusal = await apply_change(oauth_world.deps, unseen)
    assert (refusal.outcome, refusal.reason) == (
        Outcome.DONE,
        "the account must be connected again at its OAuth provider (O4): the grant was revoked",
    ), "acked: no retry until the account is connected again"
