"""POST /mail-accounts/{id}/test end to end (T1, O5): config-api asks the fetcher's and the
sender's credential checks (wired as their main.py wires them, on the real NATS) about accounts
on the harness's Dovecot and Postfix. A full round trip is `ok` and leaves nothing behind; a wrong
password fails at login_incoming and skips the rest; can_send / can_receive off skip their steps;
a second request joins the running test; an unknown account is 404; NATS down is 503."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from config_api_testing import M365_DEFAULTS, Api, RunningApp, account_body, imap_server_body, serving
from mailbridge.common.credential_checks import STEPS, Code, Status, Step, StepReport
from mailbridge.common.credential_diagnosis import TokenSource
from mailbridge.common.db.mailstore import FetchLease, StoredMessage
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.nats_embedded import EmbeddedNats, start_embedded_nats
from mailbridge.common.oauth_requests import AccessTokenGranted, AccessTokenRefused, Refusal, TokenReply
from mailbridge.common.secrets import generate_key
from mailbridge.config_api.deps import AppContext
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.fetcher.adapters.credential_incoming import IncomingChecks, sent_folders
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.credential_requests import credential_requests as fetcher_requests
from mailbridge.sender.adapters.credential_outgoing import OutgoingChecks
from mailbridge.sender.credential_requests import credential_requests as sender_requests
from mailbridge.testkit.config_rows import empty_tables
from mailbridge.testkit.credential_reports import by_step, failed_at
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_mail import OAuthMailStack
from mailbridge.testkit.oauth_mail_config import IMAP_SCOPE, POP_SCOPE, SMTP_SCOPE
from mailbridge.testkit.ports import free_port
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from sqlalchemy import func, select


class NoBroker:
    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        return AccessTokenRefused(account_id=account_id, error=Refusal.UNAVAILABLE, detail="no broker here")


class MintingBroker:
    """The OAuth broker's answer for a connected account: a token the identity provider signed for
    the account's login, good for IMAP, POP and SMTP (Microsoft 365's scopes)."""

    def __init__(self, provider: LocalIdentityProvider, login: str) -> None:
        self._provider, self._login = provider, login

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        token = self._provider.mint_access_token(self._login, [IMAP_SCOPE, POP_SCOPE, SMTP_SCOPE])
        expires = datetime.now(UTC) + timedelta(hours=1)
        return AccessTokenGranted(account_id=account_id, access_token=token, expires_at=expires)


@asynccontextmanager
async def checks_answered(
    running_app: RunningApp, stack: MailStack, nats_url: str, tokens: TokenSource
) -> AsyncIterator[None]:
    """The fetcher's and sender's answers to the checks, as their main.py wires them."""
    context: AppContext = running_app.app.state.context
    tls = stack.client_context()
    store, folders = MailStore(context.sessions, context.secrets), sent_folders(context.sessions)
    incoming = IncomingChecks(store, tokens, folders, tls, 5.0, poll_s=0.2)
    outgoing = OutgoingChecks(context.sessions, context.secrets, tokens, tls, 5.0)
    responders = [fetcher_requests(incoming), sender_requests(outgoing)]
    client = await nats.connect(nats_url)
    try:
        for responder in responders:
            await responder.start(client)
        yield
    finally:
        for responder in responders:
            await responder.stop()
        await client.close()


@pytest.fixture
async def checking_services(
    running_app: RunningApp, mail_stack: MailStack, nats_url: str
) -> AsyncIterator[None]:
    async with checks_answered(running_app, mail_stack, nats_url, NoBroker()):
        yield


async def stack_account(
    api: Api, stack: MailStack, user: MailUser, oauth_provider_id: str | None = None, **account: Any
) -> dict[str, Any]:
    """The user's account on the stack: IMAPS in, submission with STARTTLS and AUTH out."""
    server = await api.create("/mail-servers", imap_server_body(
        f"stack-{uuid.uuid4().hex[:8]}", incoming_host=f"127.0.0.1:{stack.ports.imaps}", incoming_tls=True,
        incoming_tls_mode="implicit", smtp_host=f"127.0.0.1:{stack.ports.submission}", smtp_encryption="auto",
        smtp_auth=True, oauth_provider_id=oauth_provider_id,
    ))  # fmt: skip
    owner = await api.create("/users", {"name": "Ann", "email": f"{uuid.uuid4().hex[:8]}@example.com"})
    password = {} if oauth_provider_id else {"password": user.password}
    body = account_body(server["id"], "user", owner["id"], user.address, **password, **account)
    return await api.create("/mail-accounts", body)


def steps(report: dict[str, Any]) -> list[StepReport]:
    return [StepReport.model_validate(step) for step in report["steps"]]


async def test_a_password_account_passes_the_whole_round_trip_and_leaves_nothing_behind(
    api: Api, mail_stack: MailStack, checking_services: None
) -> None:
    user = mail_stack.add_user()
    account = await stack_account(api, mail_stack, user)
    answer = await api.post(f"/mail-accounts/{account['id']}/test?receive_timeout_s=20")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    found = steps(report)
    assert [step.step for step in found] == list(STEPS)
    assert report["ok"] is True, found
    assert all(step.status is Status.OK for step in found), found
    assert datetime.fromisoformat(report["finished_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    with mail_stack.imap(user) as session:  # deleted from the inbox again, never filed in Sent
        assert session.select("INBOX", readonly=True)[1] == [b"0"]
        assert session.select("Sent", readonly=True)[1] == [b"0"]
    async with api.running.sessions() as session:
        stored = (
            select(func.count())
            .select_from(StoredMessage)
            .where(StoredMessage.account_id == uuid.UUID(account["id"]))
        )
        assert await session.scalar(stored) == 0  # never in the store, so never in a MailFetched
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    shown = (await api.get(f"/mail-accounts/{account['id']}")).json()["last_test"]
    assert shown["ok"] is True
    assert [step["step"] for step in shown["steps"]] == [step.value for step in STEPS]


async def test_o5_an_oauth_account_passes_the_whole_round_trip_with_xoauth2(
    api: Api, running_app: RunningApp, oauth_mail_stack: OAuthMailStack, oauth_mail_user: MailUser,
    identity_provider: LocalIdentityProvider, nats_url: str,
) -> None:  # fmt: skip
    """O5: once connected (O4), the credentials test completes the set-up: every step passes with
    the broker's tokens against Dovecot and Postfix that check them."""
    provider = await api.create("/oauth-providers", M365_DEFAULTS)
    account = await stack_account(api, oauth_mail_stack, oauth_mail_user, oauth_provider_id=provider["id"])
    async with api.running.sessions() as session:
        row = await session.get(MailAccount, uuid.UUID(account["id"]))
        assert row is not None
        row.password_encrypted, row.oauth_state = None, "connected"
        await session.commit()
    tokens = MintingBroker(identity_provider, oauth_mail_user.address)
    async with checks_answered(running_app, oauth_mail_stack, nats_url, tokens):
        answer = await api.post(f"/mail-accounts/{account['id']}/test?receive_timeout_s=20")
    assert answer.status_code == 200, answer.text
    found = steps(answer.json())
    assert answer.json()["ok"] is True, found
    assert "OAuth" in by_step(found)[Step.LOGIN_OUTGOING].message
    with oauth_mail_stack.imap(oauth_mail_user) as session:
        assert session.select("INBOX", readonly=True)[1] == [b"0"]


async def test_wrong_password_fails_login_incoming_and_skips_every_later_step(
    api: Api, mail_stack: MailStack, checking_services: None
) -> None:
    user = mail_stack.add_user()
    account = await stack_account(api, mail_stack, user)
    await api.patch(f"/mail-accounts/{account['id']}", {"password": "not-the-password"}, {"If-Match": "*"})
    answer = await api.post(f"/mail-accounts/{account['id']}/test")
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is False
    found = steps(answer.json())
    failed_at(found, Step.LOGIN_INCOMING, Code.AUTH_FAILED)
    assert "password" in by_step(found)[Step.LOGIN_INCOMING].message


async def test_can_send_off_skips_send_and_receive_and_can_receive_off_the_incoming_steps(
    api: Api, mail_stack: MailStack, checking_services: None
) -> None:
    user = mail_stack.add_user()
    quiet = await stack_account(api, mail_stack, user, can_send=False)
    found = steps((await api.post(f"/mail-accounts/{quiet['id']}/test")).json())
    statuses = {step.step: step.status for step in found}
    assert statuses[Step.LOGIN_OUTGOING] is Status.OK
    for step in (Step.SEND, Step.RECEIVE, Step.CLEANUP):
        assert statuses[step] is Status.SKIPPED
        assert "can_send" in by_step(found)[step].message
    deaf = await stack_account(api, mail_stack, mail_stack.add_user(), can_receive=False)
    found = steps((await api.post(f"/mail-accounts/{deaf['id']}/test")).json())
    for step in (Step.RESOLVE, Step.CONNECT_INCOMING, Step.TLS_INCOMING, Step.LOGIN_INCOMING, Step.FOLDERS,
                 Step.RECEIVE, Step.CLEANUP):  # fmt: skip
        assert by_step(found)[step].status is Status.SKIPPED
        assert "can_receive" in by_step(found)[step].message
    assert by_step(found)[Step.SEND].status is Status.OK


async def test_a_second_request_joins_the_running_test(
    api: Api, mail_stack: MailStack, checking_services: None
) -> None:
    """The second request finds the first one running and is given the same run."""
    user = mail_stack.add_user()
    account = await stack_account(api, mail_stack, user)
    first = await api.post(f"/mail-accounts/{account['id']}/test?async=true&receive_timeout_s=20")
    second = await api.post(f"/mail-accounts/{account['id']}/test?async=true")
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Location"] == first.json()["url"]
    path = first.json()["url"].split("/api/v1", 1)[1]
    run = (await api.get(path)).json()
    while run["status"] == "running":
        await asyncio.sleep(0.2)
        run = (await api.get(path)).json()
    assert run["report"]["ok"] is True, run["report"]
    joined_sync = await api.post(f"/mail-accounts/{account['id']}/test?async=true")
    assert joined_sync.json()["id"] != first.json()["id"]  # that one had finished: a new run


async def test_an_unknown_account_is_404_and_another_users_account_too(
    api: Api, mail_stack: MailStack
) -> None:
    assert (await api.post(f"/mail-accounts/{uuid.uuid4()}/test")).status_code == 404
    account = await stack_account(api, mail_stack, mail_stack.add_user())
    stranger = await api.create("/users", {"name": "Eve", "email": f"{uuid.uuid4().hex[:8]}@example.com"})
    eve = await api.user_key(stranger["id"])
    assert (await eve.post(f"/mail-accounts/{account['id']}/test")).status_code == 404
    assert (await api.get(f"/mail-accounts/{account['id']}/tests/{uuid.uuid4()}")).status_code == 404


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    server = await asyncio.to_thread(start_embedded_nats, tmp_path / "jetstream")
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_nats_down_is_503_with_retry_after(
    database_url: str, private_nats: EmbeddedNats, tmp_path: Path
) -> None:
    settings = ConfigApiSettings(
        database_url=database_url, nats_url=private_nats.url, secret_key=generate_key(),
        var_dir=tmp_path, scheduler_tick_s=0, nats_publish_timeout_s=1.0,
    )  # fmt: skip
    async with serving(settings, before=lambda running: empty_tables(running.sessions)) as api:
        server = await api.create("/mail-servers", imap_server_body())
        owner = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
        account = await api.create("/mail-accounts", account_body(server["id"], "user", owner["id"]))
        await asyncio.to_thread(private_nats.stop)
        deadline, status = time.monotonic() + 30, 0
        while status != 503 and time.monotonic() < deadline:
            refused = await api.post(f"/mail-accounts/{account['id']}/test")
            status = refused.status_code
        assert status == 503, refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert "NATS" in refused.json()["detail"]


async def test_a_run_that_ends_before_the_receive_hands_the_fetch_lease_back(
    api: Api, mail_stack: MailStack, checking_services: None
) -> None:
    """The incoming check took the account's fetch lease for the receive; the outgoing check then
    fails (nothing listens on the SMTP port), so the receive is skipped and the lease released:
    the account's next fetch does not wait for the test."""
    user = mail_stack.add_user()
    account = await stack_account(api, mail_stack, user)
    async with api.running.sessions() as session:
        row = await session.get(MailAccount, uuid.UUID(account["id"]))
        assert row is not None
        server = await session.get(MailServer, row.server_id)
        assert server is not None
        server.smtp_host = f"127.0.0.1:{free_port()}"
        await session.commit()
    found = steps((await api.post(f"/mail-accounts/{account['id']}/test")).json())
    failed_at(found, Step.CONNECT_OUTGOING, Code.CONNECTION_REFUSED)
    async with api.running.sessions() as session:
        lease = await session.get(FetchLease, uuid.UUID(account["id"]))
        assert lease is not None  # it was taken …
        assert lease.expires_at < datetime.now(UTC)  # … and given back
