"""The OAuth end-to-end tests' world: one `mailbridge run` (config-api, broker, fetcher, sender as
processes) trusting the local identity provider's and the OAuth mail stack's CAs, and the API
calls that set up a Microsoft 365 provider at the local provider, a server on the OAuth mail
stack and an account whose login is a mailbox there."""

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import nats
from mailbridge.common.oauth_requests import CONNECT_REQUEST_SUBJECT
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_mail import OAuthMailStack

T = TypeVar("T")


def ca_bundle(folder: Path, *ca_files: Path) -> Path:
    """One PEM bundle of several CAs, as MAILBRIDGE_EXTRA_CA_FILE may hold."""
    bundle = folder / "extra-ca.pem"
    bundle.write_text("".join(dict.fromkeys(path.read_text() for path in ca_files)))
    return bundle


def until(check: Callable[[], T | None], what: str, timeout_s: float = 60) -> T:
    """Wait for a state the system reaches on its own (a fetch, a send)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not within {timeout_s} s")


def until_the_broker_listens(nats_url: str, timeout_s: float = 60) -> None:
    """The runner's /healthz is the API's; the broker process may subscribe a moment later."""

    async def ask() -> None:
        client = await nats.connect(nats_url)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    await client.request(CONNECT_REQUEST_SUBJECT, b"{}", timeout=5)  # answered bad_request
                    return
                except nats.errors.NoRespondersError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await client.close()

    asyncio.run(ask())


@dataclass(frozen=True)
class OAuthServer:
    """A provider (with its registered client) and a mail server using it."""

    provider: dict[str, object]
    server_id: str
    owner_id: str


def oauth_server(
    api: httpx.Client, idp: LocalIdentityProvider, stack: OAuthMailStack, confidential: bool = True
) -> OAuthServer:
    """O1/O3: a Microsoft 365 provider at the local authority (no scopes: the Microsoft 365 ones),
    registered there with the redirect URI the API shows — a confidential client (with a secret),
    or a public one as a headless device-flow set-up registers; a server on the stack using it (S2)."""
    client_id = f"mailbridge-{secrets.token_hex(4)}"
    client_secret = secrets.token_urlsafe(24) if confidential else None
    created = api.post("/oauth-providers", json={
        "name": f"M365 {client_id}", "server_type": "microsoft365_email", "use_default_settings": False,
        "authority": idp.authority, "client_id": client_id, "client_secret": client_secret,
    })  # fmt: skip
    assert created.status_code == 201, created.text
    provider = api.get(f"/oauth-providers/{created.json()['id']}").json()
    idp.register_client(client_id, client_secret, [provider["redirect_uri"]])
    server = api.post("/mail-servers", json={
        "name": f"Exchange {client_id}", "oauth_provider_id": provider["id"],
        "smtp_host": f"127.0.0.1:{stack.ports.submission}", "smtp_encryption": "auto", "smtp_auth": True,
        "incoming_protocol": "imap", "incoming_host": f"127.0.0.1:{stack.ports.imaps}",
        "incoming_tls_mode": "implicit",
    })  # fmt: skip
    assert server.status_code == 201, server.text
    owner = api.post("/users", json={"name": "Ann", "email": f"ann-{client_id}@example.com"}).json()
    return OAuthServer(provider, server.json()["id"], owner["id"])


def oauth_account(api: httpx.Client, server: OAuthServer, login: str) -> dict[str, object]:
    """A3: an account on the OAuth server, without a password; its login is the mailbox's."""
    created = api.post("/mail-accounts", json={
        "owner": {"type": "user", "id": server.owner_id}, "server_id": server.server_id,
        "login": login, "address": login,
    })  # fmt: skip
    assert created.status_code == 201, created.text
    account: dict[str, object] = created.json()
    assert account["oauth_status"] == "disconnected"
    return account
