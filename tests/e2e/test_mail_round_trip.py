"""The whole system through `make run` against the real Postfix and Dovecot: send a mail through
the API (A6, A7, A9, BCC, S10 Sent folder), then receive it through the API (fetcher)."""

import email
import email.policy
import time
from typing import Any

import httpx
from e2e_system import RunningSystem
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser


def _until(check: Any, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise TimeoutError(f"not reached within {timeout_s} s")


def _messages(stack: MailStack, user: MailUser, folder: str = "INBOX") -> list[email.message.EmailMessage]:
    with stack.imap(user) as session:
        status, count = session.select(f'"{folder}"', readonly=True)
        if status != "OK" or count[0] == b"0":
            return []
        _, data = session.fetch("1:*", "(BODY.PEEK[])")
    raws = [part[1] for part in data if isinstance(part, tuple)]
    return [email.message_from_bytes(raw, policy=email.policy.default) for raw in raws]


def test_send_through_the_api_and_receive_through_the_api(
    mail_system: RunningSystem, mail_stack: MailStack
) -> None:
    ann, bob, carol, dave = (mail_stack.add_user() for _ in range(4))
    headers = {"Authorization": f"Bearer {mail_system.admin_key()}"}
    with httpx.Client(base_url=f"{mail_system.base_url}/api/v1", headers=headers, timeout=10) as api:
        server = api.post("/mail-servers", json={
            "name": "Stack", "smtp_host": f"127.0.0.1:{mail_stack.ports.submission}", "smtp_encryption": "auto",
            "smtp_auth": True, "incoming_protocol": "imap", "incoming_host": f"127.0.0.1:{mail_stack.ports.imaps}",
            "incoming_tls_mode": "implicit", "sent_folder": "Sent",
        }).json()  # fmt: skip
        owner = api.post("/users", json={"name": "Ann", "email": "ann@example.com"}).json()
        sending = api.post("/mail-accounts", json={
            "owner": {"type": "user", "id": owner["id"]}, "server_id": server["id"], "login": ann.address,
            "password": ann.password, "address": ann.address, "alias": "Ann Example",
            "reply_to": "replies@example.org", "send_bcc": carol.address,
        }).json()  # fmt: skip
        receiving = api.post("/mail-accounts", json={
            "owner": {"type": "user", "id": owner["id"]}, "server_id": server["id"], "login": bob.address,
            "password": bob.password, "address": bob.address,
        }).json()  # fmt: skip
        queued = api.post(f"/mail-accounts/{sending['id']}/messages", json={
            "to": [bob.address], "bcc": [dave.address], "subject": "Round trip", "text": "Hello Bob",
        })  # fmt: skip
        assert queued.status_code == 202, queued.text
        outbox_id = queued.json()["id"]
        sent = _until(lambda: (row := api.get(f"/outbox/{outbox_id}").json())["status"] == "sent" and row)
        assert sent["attempts"] == 1
        assert sent["last_reply"].startswith("250")
        raw = api.get(f"/outbox/{outbox_id}/raw").content

        received = _until(lambda: _messages(mail_stack, bob))
        assert str(received[0]["From"]) == f"Ann Example <{ann.address}>"
        assert str(received[0]["Reply-To"]) == "replies@example.org"
        assert received[0]["Bcc"] is None
        assert str(received[0]["Message-ID"]) == sent["message_id_header"]
        for blind in (carol, dave):
            copy = _until(lambda user=blind: _messages(mail_stack, user))
            assert copy[0]["Bcc"] is None
        assert b"Bcc:" not in raw
        _until(lambda: _messages(mail_stack, ann, "Sent"))
        assert len(_messages(mail_stack, ann, "Sent")) == 1

        assert api.post(f"/mail-accounts/{receiving['id']}/fetch").status_code == 202
        stored = _until(lambda: api.get(f"/mail-accounts/{receiving['id']}/messages").json()["items"])
        assert stored[0]["subject"] == "Round trip"
        assert stored[0]["from_address"] == ann.address
        assert stored[0]["message_id_header"] == sent["message_id_header"]
