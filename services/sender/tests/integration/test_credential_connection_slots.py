"""#17: the credentials test's SMTP connection holds one of its login's connection slots, shared
with every sender's pool, on the real NATS KV against the harness's Postfix, both databases:
with all held by another replica `tls_outgoing` says so (`connection_limit_reached`) and nothing
is connected; the slot goes back on every path, a refused login included."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from mailbridge.common.connection_slots import slot_key
from mailbridge.common.credential_checks import CheckReply, Code, OutgoingCheckRequest, Step
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.limits_kv import KvStore
from mailbridge.common.oauth_requests import Refusal
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.sender.adapters.credential_outgoing import OutgoingChecks
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.connection_slots import OtherReplica, check_refused_while_held, shared_bucket
from mailbridge.testkit.credential_reports import failed_at
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.token_desk import FixedTokens
from nats.js.kv import KeyValue


@dataclass
class Login:
    checks: OutgoingChecks
    account_id: uuid.UUID
    other: OtherReplica

    async def check(self) -> CheckReply:
        reply = await self.checks.check(
            OutgoingCheckRequest(account_id=self.account_id, test_id=uuid.uuid4())
        )
        assert isinstance(reply, CheckReply)
        return reply


@pytest.fixture
async def bucket(nats_url: str) -> AsyncIterator[KeyValue]:
    async with shared_bucket(nats_url, "test-credential-slots") as found:
        yield found


async def one_connection(
    database_url: str, stack: MailStack, bucket: KeyValue, password: str | None = None
) -> AsyncIterator[Login]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    secrets, user, port = SecretBox([generate_key()]), stack.add_user(), stack.ports.submission
    rows = await add_account(
        sessions, smtp_host=f"127.0.0.1:{port}", login=user.address, address=user.address,
        password_encrypted=secrets.encrypt(password or user.password),
        server={"smtp_encryption": "auto", "smtp_auth": True, "smtp_connections_per_login": 1},
    )  # fmt: skip
    limits = SharedLimits(KvStore(bucket))
    checks = OutgoingChecks(
        sessions, secrets, FixedTokens(Refusal.UNAVAILABLE), stack.client_context(), 5.0, limits
    )
    key = slot_key("smtp", "127.0.0.1", port, user.address)
    try:
        yield Login(checks, rows.account_id, OtherReplica(bucket, key))
    finally:
        await bucket.purge(key)  # nothing of this test's counting is left in the session's bucket
        await engine.dispose()


@pytest.fixture
async def login(database_url: str, mail_stack: MailStack, bucket: KeyValue) -> AsyncIterator[Login]:
    async for found in one_connection(database_url, mail_stack, bucket):
        yield found


async def test_the_credentials_test_says_so_when_every_smtp_slot_is_held(login: Login) -> None:
    await check_refused_while_held(
        login.other, login.check, Step.TLS_OUTGOING, "smtp", "smtp_connections_per_login"
    )


async def test_a_credentials_test_whose_login_is_refused_gives_its_slot_back(
    database_url: str, mail_stack: MailStack, bucket: KeyValue
) -> None:
    async for found in one_connection(database_url, mail_stack, bucket, password="not-the-password"):
        failed_at((await found.check()).steps, Step.LOGIN_OUTGOING, Code.AUTH_FAILED)
        assert await found.other.free()
