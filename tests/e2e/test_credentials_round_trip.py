"""The credentials test (T1, O5) through `make run` against the real Postfix and Dovecot: the
fetcher and sender processes answer config-api's checks as their main.py wires them."""

from collections.abc import Iterator

import httpx
import pytest
from e2e_system import RunningSystem, start_make_run
from mailbridge.testkit.stack import MailStack


@pytest.fixture
def mail_system(tmp_path_factory: pytest.TempPathFactory, mail_stack: MailStack) -> Iterator[RunningSystem]:
    system = start_make_run(
        tmp_path_factory.mktemp("credentials") / "var", {"MAILBRIDGE_EXTRA_CA_FILE": str(mail_stack.ca_file)}
    )
    try:
        yield system
    finally:
        system.interrupt()


def test_the_credentials_test_of_a_stack_account_passes_every_step(
    mail_system: RunningSystem, mail_stack: MailStack
) -> None:
    ann = mail_stack.add_user()
    headers = {"Authorization": f"Bearer {mail_system.admin_key()}"}
    with httpx.Client(base_url=f"{mail_system.base_url}/api/v1", headers=headers, timeout=120) as api:
        server = api.post("/mail-servers", json={
            "name": "Stack", "smtp_host": f"127.0.0.1:{mail_stack.ports.submission}", "smtp_encryption": "auto",
            "smtp_auth": True, "incoming_protocol": "imap", "incoming_host": f"127.0.0.1:{mail_stack.ports.imaps}",
            "incoming_tls_mode": "implicit", "sent_folder": "Sent",
        }).json()  # fmt: skip
        owner = api.post("/users", json={"name": "Ann", "email": "ann@example.com"}).json()
        account = api.post("/mail-accounts", json={
            "owner": {"type": "user", "id": owner["id"]}, "server_id": server["id"], "login": ann.address,
            "password": ann.password, "address": ann.address,
        }).json()  # fmt: skip
        answer = api.post(f"/mail-accounts/{account['id']}/test", params={"receive_timeout_s": 30})
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["ok"] is True, report["steps"]
        assert [step["status"] for step in report["steps"]] == ["ok"] * 11
        assert api.get(f"/mail-accounts/{account['id']}").json()["last_test"]["ok"] is True
    with mail_stack.imap(ann) as session:
        assert session.select("INBOX", readonly=True)[1] == [b"0"]
