"""O4 end to end through `mailbridge run`: the admin sets up a Microsoft 365 provider at the local
identity provider, a server on the OAuth mail stack and an account without a password; connect
→ the browser signs in at the provider → the browser's callback on the configuration API says
"Authorisation code obtained" → the account is connected; then the fetcher fetches and the
sender sends with the broker's tokens (XOAUTH2 against Dovecot and Postfix checking them); a
grant revoked at the provider turns the account to needs_reconnect with the provider's reason. A
wrong mailbox and declined consent show their pages and connect nothing; the command line's
device flow connects too, finding the embedded NATS through the data folder (var/nats-url, there
only while the runner runs). The redirect URI is MAILBRIDGE_PUBLIC_URL as the runner sets it,
whatever host the API is reached under."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_system import RunningSystem, start_make_run
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_fixtures import OAuthUser
from mailbridge.testkit.oauth_mail import OAuthMailStack
from mailbridge.testkit.oauth_mail_fixtures import oauth_mail_stack, oauth_mail_user  # noqa: F401 - fixtures
from mailbridge.testkit.users import MailUser
from oauth_e2e import OAuthServer, ca_bundle, oauth_account, oauth_server, until, until_the_broker_listens

MAILBRIDGE = str(Path(sys.executable).parent / "mailbridge")
OBTAINED = "Authorisation code obtained — you can close this window"


@pytest.fixture(scope="module")
def oauth_system(
    tmp_path_factory: pytest.TempPathFactory,
    identity_provider: LocalIdentityProvider,
    oauth_mail_stack: OAuthMailStack,  # noqa: F811
) -> Iterator[RunningSystem]:
    folder = tmp_path_factory.mktemp("oauth-e2e")
    bundle = ca_bundle(folder, identity_provider.ca_file, oauth_mail_stack.ca_file)
    system = start_make_run(
        folder / "var", {"MAILBRIDGE_EXTRA_CA_FILE": str(bundle)}, command=(MAILBRIDGE, "run")
    )
    try:
        until_the_broker_listens(system.nats_url())
        yield system
    finally:
        if system.process.poll() is None:
            system.interrupt()


@pytest.fixture
def api(oauth_system: RunningSystem) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {oauth_system.admin_key()}"}
    with httpx.Client(base_url=f"{oauth_system.base_url}/api/v1", headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def server(
    api: httpx.Client,
    identity_provider: LocalIdentityProvider,
    oauth_mail_stack: OAuthMailStack,  # noqa: F811
) -> OAuthServer:
    return oauth_server(api, identity_provider, oauth_mail_stack)


def browser_connect(
    api: httpx.Client,
    idp: LocalIdentityProvider,
    account_id: object,
    login: str,
    password: str,
    accept: bool = True,
) -> httpx.Response:
    """What a person does: Connect, sign in at the provider, land on the callback page."""
    started = api.post(f"/mail-accounts/{account_id}/oauth/connect")
    assert started.status_code == 200, started.text
    redirected = idp.browser_sign_in(started.json()["authorization_url"], login, password, accept=accept)
    return httpx.get(redirected, timeout=60)  # the browser: no API key


def test_o4_connect_then_fetch_and_send_with_the_brokers_tokens(
    oauth_system: RunningSystem, api: httpx.Client, server: OAuthServer, identity_provider: LocalIdentityProvider,
    oauth_user: OAuthUser, oauth_mail_user: MailUser, oauth_mail_stack: OAuthMailStack,  # noqa: F811
) -> None:  # fmt: skip
    callback = f"{oauth_system.base_url}/oauth/callback"
    assert server.provider["redirect_uri"] == callback
    reached_elsewhere = api.get(
        f"/oauth-providers/{server.provider['id']}", headers={"Host": "proxy.example"}
    )
    assert reached_elsewhere.json()["redirect_uri"] == callback, (
        "MAILBRIDGE_PUBLIC_URL, not the request's host"
    )
    account = oauth_account(api, server, oauth_user.login)
    page = browser_connect(api, identity_provider, account["id"], oauth_user.login, oauth_user.password)
    assert page.status_code == 200, page.text
    assert OBTAINED in page.text
    assert page.headers["cache-control"] == "no-store"
    shown = api.get(f"/mail-accounts/{account['id']}").json()
    assert (shown["oauth_status"], shown["oauth_reason"], shown["has_password"]) == ("connected", None, False)

    raw = (
        b"From: someone@example.org\r\nTo: "
        + oauth_mail_user.address.encode()
        + b"\r\nSubject: Over XOAUTH2\r\n\r\nHi\r\n"
    )
    oauth_mail_stack.seed(oauth_mail_user.address, [raw])
    assert api.post(f"/mail-accounts/{account['id']}/fetch").status_code == 202
    stored = until(lambda: api.get(f"/mail-accounts/{account['id']}/messages").json()["items"], "the fetch")
    assert [m["subject"] for m in stored] == ["Over XOAUTH2"]

    queued = api.post(f"/mail-accounts/{account['id']}/messages", json={
        "to": [oauth_mail_user.address], "subject": "Sent with XOAUTH2", "text": "Hello",
    })  # fmt: skip
    assert queued.status_code == 202, queued.text
    outbox = f"/outbox/{queued.json()['id']}"
    sent = until(lambda: (row := api.get(outbox).json())["status"] in ("sent", "failed") and row, "the send")
    assert (sent["status"], sent["attempts"]) == ("sent", 1), sent
    oauth_mail_stack.wait_for_messages(oauth_mail_user.address, 2)
    assert "sasl_method=XOAUTH2" in oauth_mail_stack.postfix_log.read_text()


def test_a_revoked_grant_shows_needs_reconnect_with_the_providers_reason(
    api: httpx.Client, server: OAuthServer, identity_provider: LocalIdentityProvider,
    oauth_user: OAuthUser, oauth_mail_user: MailUser,  # noqa: F811
) -> None:  # fmt: skip
    account = oauth_account(api, server, oauth_user.login)
    page = browser_connect(api, identity_provider, account["id"], oauth_user.login, oauth_user.password)
    assert page.status_code == 200, page.text
    identity_provider.revoke(oauth_user.login)  # the mail server's introspection sees it at once
    assert api.post(f"/mail-accounts/{account['id']}/fetch").status_code == 202

    def reconnect_needed() -> dict[str, Any] | None:
        shown: dict[str, Any] = api.get(f"/mail-accounts/{account['id']}").json()
        return shown if shown["oauth_status"] == "needs_reconnect" else None

    shown = until(reconnect_needed, "needs_reconnect after the revocation")
    assert "AADSTS70000" in shown["oauth_reason"], shown  # the provider's own words


def test_a_wrong_mailbox_and_declined_consent_show_their_pages_and_connect_nothing(
    api: httpx.Client, server: OAuthServer, identity_provider: LocalIdentityProvider, oauth_user: OAuthUser,
) -> None:  # fmt: skip
    account = oauth_account(api, server, oauth_user.login)
    other = f"other-{oauth_user.login}"
    identity_provider.add_user(other, "other-password")
    wrong = browser_connect(api, identity_provider, account["id"], other, "other-password")
    assert wrong.status_code == 400
    assert "Signed in with the wrong mailbox" in wrong.text
    declined = browser_connect(
        api, identity_provider, account["id"], oauth_user.login, oauth_user.password, accept=False
    )
    assert declined.status_code == 400
    assert "consent denied" in declined.text
    assert OBTAINED not in wrong.text + declined.text
    assert api.get(f"/mail-accounts/{account['id']}").json()["oauth_status"] == "disconnected"


def test_the_command_lines_device_flow_connects_an_account(
    oauth_system: RunningSystem, api: httpx.Client, identity_provider: LocalIdentityProvider,
    oauth_mail_stack: OAuthMailStack, oauth_user: OAuthUser,  # noqa: F811
) -> None:  # fmt: skip
    public = oauth_server(api, identity_provider, oauth_mail_stack, confidential=False)
    account = oauth_account(api, public, oauth_user.login)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env["MAILBRIDGE_VAR_DIR"] = str(oauth_system.var_dir)  # NATS found through var/nats-url
    command = [MAILBRIDGE, "oauth", "connect", "--device", str(account["id"])]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as cli:
        assert cli.stdout is not None
        instruction = cli.stdout.readline()
        code = re.search(r"enter the code (\w+)", instruction)
        assert code, instruction + (cli.stderr.read() if cli.stderr else "")
        identity_provider.approve_device_code(code.group(1), oauth_user.login, oauth_user.password)
        out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert out.strip().endswith(f"connected as {oauth_user.login}")
    assert api.get(f"/mail-accounts/{account['id']}").json()["oauth_status"] == "connected"


def test_the_runner_leaves_the_nats_url_in_the_data_folder_only_while_it_runs(
    oauth_system: RunningSystem,
) -> None:
    nats_url_file = oauth_system.var_dir / "nats-url"
    assert nats_url_file.read_text().strip() == oauth_system.nats_url()
    assert nats_url_file.stat().st_mode & 0o077 == 0
    oauth_system.interrupt()
    assert oauth_system.process.returncode == 0
    assert not nats_url_file.exists()
