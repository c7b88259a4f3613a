"""The credentials test (T1, O5) through `make run` against the real Postfix and Dovecot: the
fetcher and sender processes answer config-api's checks as their main.py wires them."""

import httpx
from e2e_system import RunningSystem, stack_account
from mailbridge.testkit.stack import MailStack


def test_the_credentials_test_of_a_stack_account_passes_every_step(
    mail_system: RunningSystem, mail_stack: MailStack
) -> None:
    ann = mail_stack.add_user()
    headers = {"Authorization": f"Bearer {mail_system.admin_key()}"}
    with httpx.Client(base_url=f"{mail_system.base_url}/api/v1", headers=headers, timeout=120) as api:
        account = stack_account(api, mail_stack, ann)
        answer = api.post(f"/mail-accounts/{account['id']}/test", params={"receive_timeout_s": 30})
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["ok"] is True, report["steps"]
        assert [step["status"] for step in report["steps"]] == ["ok"] * 11
        assert api.get(f"/mail-accounts/{account['id']}").json()["last_test"]["ok"] is True
    with mail_stack.imap(ann) as session:
        assert session.select("INBOX", readonly=True)[1] == [b"0"]
