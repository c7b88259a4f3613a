"""The broker's use-cases on fakes (O4): token custody and refresh, revocation, the connect and
callback flow, the device flow and the keep-alive — end states asserted, no server."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from mailbridge.common.oauth_requests import (
    AccessTokenGranted,
    AccessTokenRefused,
    CallbackRequest,
    ConnectFinished,
    ConnectRefused,
    ConnectRequest,
    ConnectStarted,
    DeviceFlowStarted,
    DevicePending,
    DevicePollRequest,
    DeviceStartRequest,
    FlowRefusal,
    Refusal,
    token_fingerprint,
)
from mailbridge.oauth_broker.answer_token_request import answer_token_request
from mailbridge.oauth_broker.callback import finish_callback
from mailbridge.oauth_broker.connect import start_connect
from mailbridge.oauth_broker.device import poll_device_flow, start_device_flow
from mailbridge.oauth_broker.flows import FlowDeps
from mailbridge.oauth_broker.keep_alive import KeepAlive
from mailbridge.oauth_broker.model import (
    AccountView,
    Custody,
    Grant,
    JsonDict,
    ProviderError,
    ProviderUnavailable,
    StoredFlow,
    Tokens,
)
from mailbridge.oauth_broker.providers import InstallationApp, ProviderConfig, ProviderRow
from mailbridge.oauth_broker.tokens import TokenDeps, TokenKeeper

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ACCOUNT = uuid.UUID("01a21a80-4577-7c31-aec5-77c42ab161e2")
LOGIN = "anna.meier@contoso.com"
M365 = ProviderRow("microsoft365_email", True, None, None, "app", "secret", ())


def cache_with(token: str, expires_at: datetime) -> str:
    entry = {"secret": token, "expires_on": str(int(expires_at.timestamp()))}
    return json.dumps({"AccessToken": {"at": entry}, "RefreshToken": {"rt": {"secret": f"rt-of-{token}"}}})


def tokens(token: str, expires_at: datetime, login: str = LOGIN) -> Tokens:
    return Tokens(cache_with(token, expires_at), token, expires_at, {"preferred_username": login})


@dataclass
class FakeGrants:
    accounts: dict[uuid.UUID, AccountView] = field(default_factory=dict)
    grants: dict[uuid.UUID, Grant] = field(default_factory=dict)
    events: list[tuple[str, uuid.UUID, str | None]] = field(default_factory=list)
    transactions: int = 0

    def custody_now(self, account_id: uuid.UUID) -> Custody:
        return Custody(self.accounts.get(account_id), self.grants.get(account_id))

    async def custody(self, account_id: uuid.UUID) -> Custody:
        return self.custody_now(account_id)

    @asynccontextmanager
    async def locked(self, account_id: uuid.UUID) -> AsyncIterator["FakeLocked"]:
        self.transactions += 1
        yield FakeLocked(self, account_id)

    async def connect(self, account_id: uuid.UUID, tokens: Tokens) -> None:
        self.grants[account_id] = Grant(tokens.cache_json, NOW, 0)
        self.accounts[account_id] = replace(
            self.accounts[account_id], oauth_state="connected", oauth_reason=None
        )
        self.events += [("state", account_id, "ok"), ("refreshed", account_id, None)]

    async def stale(self, refreshed_before: datetime, limit: int) -> list[uuid.UUID]:
        old = sorted((g.refreshed_at, a) for a, g in self.grants.items() if g.refreshed_at < refreshed_before)
        return [account for _, account in old[:limit]]


@dataclass
class FakeLocked:
    store: FakeGrants
    account_id: uuid.UUID

    @property
    def custody(self) -> Custody:
        return self.store.custody_now(self.account_id)

    async def save(self, tokens: Tokens) -> None:
        old = self.store.grants[self.account_id]
        self.store.grants[self.account_id] = Grant(tokens.cache_json, NOW, old.revision + 1)
        self.store.events.append(("refreshed", self.account_id, None))

    async def revoke(self, reason: str) -> None:
        del self.store.grants[self.account_id]
        account = self.store.accounts[self.account_id]
        self.store.accounts[self.account_id] = replace(
            account, oauth_state="needs_reconnect", oauth_reason=reason
        )
        self.store.events.append(("state", self.account_id, reason))


@dataclass
class FakeFlows:
    flows: dict[str, StoredFlow] = field(default_factory=dict)
    purged: int = 0

    async def add(self, flow: StoredFlow, redirect_uri: str | None) -> None:
        self.flows[flow.state] = flow

    async def get(self, state: str) -> StoredFlow | None:
        return self.flows.get(state)

    async def take(self, state: str) -> bool:
        return self.flows.pop(state, None) is not None

    async def purge_expired(self, now: datetime) -> int:
        self.purged += 1
        return 0


@dataclass
class FakeProvider:
    """Answers from `answers` (last one repeats); `hold` keeps a refresh waiting."""

    answers: list[Tokens | ProviderError | ProviderUnavailable] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    hold: asyncio.Event | None = None
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def _answer(self, call: str) -> Tokens | ProviderError:
        self.calls.append(call)
        self.called.set()
        if self.hold is not None:
            await self.hold.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, ProviderUnavailable):
            raise answer
        return answer

    async def refresh(self, provider: ProviderConfig, cache_json: str) -> Tokens | ProviderError:
        return await self._answer("refresh")

    async def start_code_flow(self, provider: ProviderConfig, redirect_uri: str, login_hint: str) -> JsonDict:
        self.calls.append(f"code flow for {login_hint}")
        return {"state": "state-1", "auth_uri": "https://idp/authorize?state=state-1", "code_verifier": "v"}

    async def redeem_code(
        self, provider: ProviderConfig, flow: JsonDict, params: dict[str, str]
    ) -> Tokens | ProviderError:
        return await self._answer("redeem")

    async def start_device_flow(self, provider: ProviderConfig) -> JsonDict | ProviderError:
        self.calls.append("device flow")
        return {"user_code": "ABCD-EFGH", "device_code": "dc", "verification_uri": "https://idp/device",
                "message": "go there", "interval": 5, "expires_at": (NOW + timedelta(minutes=15)).timestamp()}  # fmt: skip

    async def poll_device_flow(self, provider: ProviderConfig, flow: JsonDict) -> Tokens | ProviderError:
        return await self._answer("poll")


@dataclass
class World:
    grants: FakeGrants
    flows: FakeFlows
    provider: FakeProvider
    keeper: TokenKeeper
    flow_deps: FlowDeps
    clock: list[datetime]

    def connected(self, token: str, expires_at: datetime, refreshed_at: datetime = NOW) -> None:
        self.grants.grants[ACCOUNT] = Grant(cache_with(token, expires_at), refreshed_at, 0)
        self.grants.accounts[ACCOUNT] = replace(self.grants.accounts[ACCOUNT], oauth_state="connected")


@pytest.fixture
def world() -> World:
    grants, flows, provider, clock = FakeGrants(), FakeFlows(), FakeProvider(), [NOW]
    grants.accounts[ACCOUNT] = AccountView(ACCOUNT, LOGIN, "disconnected", None, M365)
    installation = InstallationApp()
    keeper = TokenKeeper(TokenDeps(grants, provider, installation, timedelta(minutes=5), lambda: clock[0]))
    flow_deps = FlowDeps(grants, flows, provider, installation, timedelta(minutes=10), lambda: clock[0])
    return World(grants, flows, provider, keeper, flow_deps, clock)


# --- token requests ---------------------------------------------------------------------------


async def test_a_fresh_token_is_answered_from_the_cache_without_a_transaction(world: World) -> None:
    world.connected("fresh", NOW + timedelta(hours=1))
    reply = await world.keeper.access_token(ACCOUNT)
    assert reply == AccessTokenGranted(
        account_id=ACCOUNT, access_token="fresh", expires_at=NOW + timedelta(hours=1)
    )
    assert (world.provider.calls, world.grants.transactions, world.grants.events) == ([], 0, [])


async def test_a_token_close_to_expiry_is_refreshed_and_the_rotated_cache_saved(world: World) -> None:
    world.connected("old", NOW + timedelta(minutes=4))
    world.provider.answers = [tokens("new", NOW + timedelta(hours=1))]
    reply = await world.keeper.access_token(ACCOUNT)
    assert isinstance(reply, AccessTokenGranted)
    assert (reply.access_token, reply.expires_at) == ("new", NOW + timedelta(hours=1))
    grant = world.grants.grants[ACCOUNT]
    assert ("rt-of-new" in grant.cache_json, grant.revision) == (True, 1)
    assert world.grants.events == [("refreshed", ACCOUNT, None)]


async def test_a_refused_current_token_is_refreshed_once_an_older_one_is_not(world: World) -> None:
    world.connected("current", NOW + timedelta(hours=1))
    world.provider.answers = [tokens("newer", NOW + timedelta(hours=2))]
    stale = await world.keeper.access_token(ACCOUNT, rejected=token_fingerprint("long gone"))
    assert isinstance(stale, AccessTokenGranted)
    assert (stale.access_token, world.provider.calls) == ("current", [])
    forced = await world.keeper.access_token(ACCOUNT, rejected=token_fingerprint("current"))
    again = await world.keeper.access_token(ACCOUNT, rejected=token_fingerprint("current"))
    assert isinstance(forced, AccessTokenGranted)
    assert isinstance(again, AccessTokenGranted)
    assert (forced.access_token, again.access_token, world.provider.calls) == ("newer", "newer", ["refresh"])


async def test_concurrent_requests_for_one_account_cause_one_refresh(world: World) -> None:
    world.connected("old", NOW + timedelta(minutes=1))
    world.provider.answers = [tokens("new", NOW + timedelta(hours=1))]
    world.provider.hold = asyncio.Event()
    requests = [asyncio.create_task(world.keeper.access_token(ACCOUNT)) for _ in range(10)]
    await world.provider.called.wait()
    world.provider.hold.set()
    replies = await asyncio.gather(*requests)
    assert {r.access_token for r in replies if isinstance(r, AccessTokenGranted)} == {"new"}
    assert len(replies) == 10
    assert world.provider.calls == ["refresh"]


async def test_a_lost_grant_marks_the_account_and_later_requests_are_refused_at_once(world: World) -> None:
    world.connected("old", NOW - timedelta(minutes=1))
    world.provider.answers = [
        ProviderError("invalid_grant", "AADSTS50173: The provided grant has expired\r\nTrace ID: 1")
    ]
    reply = await world.keeper.access_token(ACCOUNT)
    assert isinstance(reply, AccessTokenRefused)
    assert reply.error is Refusal.NEEDS_RECONNECT
    assert "AADSTS50173: The provided grant has expired\\r\\nTrace ID: 1" in reply.detail
    account = world.grants.accounts[ACCOUNT]
    assert (account.oauth_state, account.oauth_reason) == (
        "needs_reconnect", "AADSTS50173: The provided grant has expired\\r\\nTrace ID: 1",
    )  # fmt: skip
    assert ACCOUNT not in world.grants.grants
    assert world.grants.events == [("state", ACCOUNT, account.oauth_reason)]
    for _ in range(3):
        later = await world.keeper.access_token(ACCOUNT)
        assert isinstance(later, AccessTokenRefused)
        assert (later.error, later.detail) == (Refusal.NEEDS_RECONNECT, reply.detail)
    assert world.provider.calls == ["refresh"]


@pytest.mark.parametrize(
    "answer",
    [
        ProviderUnavailable("the identity provider did not answer within 20 s"),
        ProviderError("temporarily_unavailable", "busy"),
    ],
)
async def test_a_provider_that_cannot_refresh_leaves_the_account_as_it_was(
    world: World, answer: ProviderError | ProviderUnavailable
) -> None:
    world.connected("old", NOW + timedelta(minutes=1))
    before = world.grants.custody_now(ACCOUNT)
    world.provider.answers = [answer]
    # The token still works: it is answered while the provider is away …
    still = await world.keeper.access_token(ACCOUNT)
    assert isinstance(still, AccessTokenGranted)
    assert (still.access_token, still.expires_at) == ("old", NOW + timedelta(minutes=1))
    # … but not to the asker whose mail server refused it, nor once it has expired.
    refused = await world.keeper.access_token(ACCOUNT, rejected=token_fingerprint("old"))
    world.clock[0] = NOW + timedelta(minutes=1)
    expired = await world.keeper.access_token(ACCOUNT)
    for reply in (refused, expired):
        assert isinstance(reply, AccessTokenRefused)
        assert (reply.error, reply.retryable) == (Refusal.UNAVAILABLE, True)
    assert world.provider.calls == ["refresh"] * 3
    assert (world.grants.custody_now(ACCOUNT), world.grants.events) == (before, [])


async def test_an_account_without_grant_is_not_connected(world: World) -> None:
    for account in (ACCOUNT, uuid.uuid4()):
        reply = await world.keeper.access_token(account)
        assert isinstance(reply, AccessTokenRefused)
        assert reply.error is Refusal.NOT_CONNECTED
    assert world.provider.calls == []


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'{"account_id": "x"}', b'{"account_id": "%s", "rejected": "no"}']
)
async def test_a_token_request_that_does_not_parse_is_a_bad_request(world: World, body: bytes) -> None:
    reply = await answer_token_request(world.keeper, body.replace(b"%s", str(ACCOUNT).encode()))
    assert isinstance(reply, AccessTokenRefused)
    assert (reply.account_id, reply.error) == (None, Refusal.BAD_REQUEST)


async def test_the_keep_alive_refreshes_idle_grants_only(world: World) -> None:
    idle, busy = ACCOUNT, uuid.uuid4()
    world.grants.accounts[busy] = AccountView(busy, "b@contoso.com", "connected", None, M365)
    world.connected("idle", NOW + timedelta(hours=1), refreshed_at=NOW - timedelta(hours=25))
    world.grants.grants[busy] = Grant(
        cache_with("busy", NOW + timedelta(hours=1)), NOW - timedelta(hours=1), 0
    )
    world.provider.answers = [tokens("renewed", NOW + timedelta(hours=1))]
    assert await KeepAlive(world.keeper, world.grants, timedelta(hours=24), 10).once() == 1
    assert world.provider.calls == ["refresh"]
    assert world.grants.grants[idle].revision == 1
    assert world.grants.grants[busy].revision == 0


async def test_a_grant_the_keep_alive_cannot_refresh_rests_and_leaves_the_batch_to_others(
    world: World,
) -> None:
    broken, other = ACCOUNT, uuid.uuid4()
    world.grants.accounts[other] = AccountView(other, "b@contoso.com", "connected", None, M365)
    world.connected("broken", NOW + timedelta(hours=1), refreshed_at=NOW - timedelta(hours=30))
    world.grants.grants[other] = Grant(
        cache_with("other", NOW + timedelta(hours=1)), NOW - timedelta(hours=25), 0
    )
    world.provider.answers = [ProviderUnavailable("away"), tokens("renewed", NOW + timedelta(hours=1))]
    keep_alive = KeepAlive(world.keeper, world.grants, timedelta(hours=24), 1, rest=timedelta(hours=1))
    assert (await keep_alive.once(), await keep_alive.once()) == (1, 1)
    assert (world.grants.grants[broken].revision, world.grants.grants[other].revision) == (0, 1)
    world.clock[0] = NOW + timedelta(hours=2)  # rested: tried again
    assert await keep_alive.once() == 1
    assert world.provider.calls == ["refresh"] * 3


# --- connect and callback ---------------------------------------------------------------------


async def test_connect_stores_the_flow_under_its_state_and_answers_the_url(world: World) -> None:
    reply = await start_connect(
        world.flow_deps, ConnectRequest(account_id=ACCOUNT, redirect_uri="https://mb/oauth/callback")
    )
    assert reply == ConnectStarted(
        account_id=ACCOUNT,
        authorization_url="https://idp/authorize?state=state-1",
        expires_at=NOW + timedelta(minutes=10),
    )
    stored = world.flows.flows["state-1"]
    assert (stored.account_id, stored.kind, stored.flow["code_verifier"]) == (ACCOUNT, "code", "v")
    assert (world.provider.calls, world.flows.purged) == ([f"code flow for {LOGIN}"], 1)


async def test_connect_refuses_an_account_without_provider_or_app(world: World) -> None:
    world.grants.accounts[ACCOUNT] = replace(world.grants.accounts[ACCOUNT], provider=None)
    no_provider = await start_connect(
        world.flow_deps, ConnectRequest(account_id=ACCOUNT, redirect_uri="https://mb/cb")
    )
    world.grants.accounts[ACCOUNT] = replace(
        world.grants.accounts[ACCOUNT], provider=replace(M365, client_id=None)
    )
    no_app = await start_connect(
        world.flow_deps, ConnectRequest(account_id=ACCOUNT, redirect_uri="https://mb/cb")
    )
    for reply in (no_provider, no_app):
        assert isinstance(reply, ConnectRefused)
        assert reply.error is FlowRefusal.NOT_OAUTH
    assert isinstance(no_app, ConnectRefused)
    assert "MAILBRIDGE_OAUTH_M365_CLIENT_ID and MAILBRIDGE_OAUTH_M365_CLIENT_SECRET" in no_app.detail
    assert (world.flows.flows, world.provider.calls) == ({}, [])


async def started(world: World) -> None:
    await start_connect(world.flow_deps, ConnectRequest(account_id=ACCOUNT, redirect_uri="https://mb/cb"))


async def test_the_callback_connects_the_account_and_a_replay_finds_no_flow(world: World) -> None:
    await started(world)
    world.provider.answers = [tokens("first", NOW + timedelta(hours=1), login="Anna.Meier@contoso.com")]
    params = {"state": "state-1", "code": "the-code"}
    reply = await finish_callback(world.flow_deps, CallbackRequest(params=params))
    assert reply == ConnectFinished(account_id=ACCOUNT, login=LOGIN)
    assert world.grants.accounts[ACCOUNT].oauth_state == "connected"
    assert "first" in world.grants.grants[ACCOUNT].cache_json
    assert world.grants.events == [("state", ACCOUNT, "ok"), ("refreshed", ACCOUNT, None)]
    replay = await finish_callback(world.flow_deps, CallbackRequest(params=params))
    assert isinstance(replay, ConnectRefused)
    assert replay.error is FlowRefusal.STATE_UNKNOWN
    assert world.provider.calls.count("redeem") == 1


@pytest.mark.parametrize("params", [{}, {"code": "c"}, {"state": "forged", "code": "c"}])
async def test_a_callback_without_a_known_state_is_refused(world: World, params: dict[str, str]) -> None:
    await started(world)
    reply = await finish_callback(world.flow_deps, CallbackRequest(params=params))
    assert isinstance(reply, ConnectRefused)
    assert (reply.account_id, reply.error) == (None, FlowRefusal.STATE_UNKNOWN)
    assert "state-1" in world.flows.flows


async def test_an_expired_flow_is_refused_and_forgotten(world: World) -> None:
    await started(world)
    world.clock[0] = NOW + timedelta(minutes=10)
    reply = await finish_callback(world.flow_deps, CallbackRequest(params={"state": "state-1", "code": "c"}))
    assert isinstance(reply, ConnectRefused)
    assert reply.error is FlowRefusal.FLOW_EXPIRED
    assert (world.flows.flows, world.provider.calls.count("redeem")) == ({}, 0)


async def test_denied_consent_is_refused_in_the_providers_words(world: World) -> None:
    await started(world)
    params = {"state": "state-1", "error": "access_denied", "error_description": "The user declined consent."}
    reply = await finish_callback(world.flow_deps, CallbackRequest(params=params))
    assert isinstance(reply, ConnectRefused)
    assert reply.error is FlowRefusal.CONSENT_DENIED
    assert "The user declined consent." in reply.detail
    assert (world.flows.flows, world.grants.grants) == ({}, {})


async def test_another_mailbox_signed_in_is_refused_and_nothing_stored(world: World) -> None:
    await started(world)
    world.provider.answers = [tokens("theirs", NOW + timedelta(hours=1), login="bob@contoso.com")]
    reply = await finish_callback(world.flow_deps, CallbackRequest(params={"state": "state-1", "code": "c"}))
    assert isinstance(reply, ConnectRefused)
    assert reply.error is FlowRefusal.WRONG_MAILBOX
    assert "bob@contoso.com" in reply.detail
    assert LOGIN in reply.detail
    assert (world.grants.grants, world.grants.events) == ({}, [])
    assert world.grants.accounts[ACCOUNT].oauth_state == "disconnected"


async def test_a_code_the_provider_refuses_is_code_rejected(world: World) -> None:
    await started(world)
    world.provider.answers = [ProviderError("invalid_grant", "AADSTS54005: code already redeemed")]
    reply = await finish_callback(world.flow_deps, CallbackRequest(params={"state": "state-1", "code": "c"}))
    assert isinstance(reply, ConnectRefused)
    assert reply.error is FlowRefusal.CODE_REJECTED
    assert "AADSTS54005" in reply.detail


# --- device flow ------------------------------------------------------------------------------


async def test_the_device_flow_is_pending_then_connects(world: World) -> None:
    started_flow = await start_device_flow(world.flow_deps, DeviceStartRequest(account_id=ACCOUNT))
    assert isinstance(started_flow, DeviceFlowStarted)
    assert (started_flow.user_code, started_flow.interval_s) == ("ABCD-EFGH", 5)
    assert started_flow.expires_at == NOW + timedelta(minutes=15)
    poll = DevicePollRequest(flow_id=started_flow.flow_id)
    world.provider.answers = [
        ProviderError("authorization_pending", ""),
        tokens("device", NOW + timedelta(hours=1)),
    ]
    assert await poll_device_flow(world.flow_deps, poll) == DevicePending(flow_id=started_flow.flow_id)
    assert await poll_device_flow(world.flow_deps, poll) == ConnectFinished(account_id=ACCOUNT, login=LOGIN)
    assert world.grants.accounts[ACCOUNT].oauth_state == "connected"
    again = await poll_device_flow(world.flow_deps, poll)
    assert isinstance(again, ConnectRefused)
    assert again.error is FlowRefusal.STATE_UNKNOWN
    assert world.provider.calls == ["device flow", "poll", "poll"]


@pytest.mark.parametrize(
    ("error", "refusal"),
    [("authorization_declined", FlowRefusal.CONSENT_DENIED), ("expired_token", FlowRefusal.FLOW_EXPIRED)],
)
async def test_a_declined_or_expired_device_flow_is_refused(
    world: World, error: str, refusal: FlowRefusal
) -> None:
    started_flow = await start_device_flow(world.flow_deps, DeviceStartRequest(account_id=ACCOUNT))
    assert isinstance(started_flow, DeviceFlowStarted)
    world.provider.answers = [ProviderError(error, "said the provider")]
    reply = await poll_device_flow(world.flow_deps, DevicePollRequest(flow_id=started_flow.flow_id))
    assert isinstance(reply, ConnectRefused)
    assert (reply.error, world.flows.flows, world.grants.grants) == (refusal, {}, {})
