"""#15 Operations, followed through the whole system (`make run`, the harness's Postfix and
Dovecot): a request's W3C `traceparent` goes from the API onto the command on the wire
(SendRequested, FetchRequested), into the sender's and fetcher's JSON log lines for that work
(`trace_id`, `account_id`) and onto the events they publish (MailSent, MailFetched); and an
account whose login Dovecot refuses shows as failing in its health (O5) and in
GET /health/accounts until it has failed longer than `failing_for` asks."""

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import nats
import pytest
from e2e_system import RunningSystem, start_make_run
from mailbridge.common.events import FetchRequested, MailFetched, MailSent, SendRequested
from mailbridge.common.tracing import TRACEPARENT, trace_id_of
from mailbridge.testkit.stack import MailStack

WAIT_S = 60


class Wiretap:
    """Every message on `mailbridge.>` with its headers, as a plain NATS subscriber sees it
    (a JetStream publish reaches core subscribers of its subject too)."""

    def __init__(self, url: str) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._listen(url),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the wiretap did not connect"

    async def _listen(self, url: str) -> None:
        client = await nats.connect(url)

        async def keep(message: Any) -> None:
            self.seen.append((message.subject, dict(message.headers or {})))

        await client.subscribe("mailbridge.>", cb=keep)
        await client.flush()
        self._ready.set()
        await asyncio.to_thread(self._stop.wait, WAIT_S * 5)  # bounded, set by close()
        await client.close()

    def traces(self, subject: str) -> list[str]:
        return [trace_id_of(headers[TRACEPARENT]) for seen, headers in list(self.seen)
                if seen == subject and TRACEPARENT in headers]  # fmt: skip

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _until(check: Any, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise TimeoutError(f"not reached within {timeout_s} s")


def _traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _log_lines(system: RunningSystem, trace_id: str) -> list[dict[str, Any]]:
    lines = []
    for line in system.output().splitlines():
        if line.startswith("{") and trace_id in line:
            entry = json.loads(line)
            if entry.get("trace_id") == trace_id:
                lines.append(entry)
    return lines


@pytest.fixture
def traced_system(tmp_path_factory: pytest.TempPathFactory, mail_stack: MailStack) -> Iterator[RunningSystem]:
    system = start_make_run(
        tmp_path_factory.mktemp("traces") / "var",
        # no scheduled fetches: every fetch here is one the test asked for, under its trace
        {"MAILBRIDGE_EXTRA_CA_FILE": str(mail_stack.ca_file), "MAILBRIDGE_SCHEDULER_TICK_S": "0"},
    )
    try:
        yield system
    finally:
        system.interrupt()


def test_a_request_is_followed_through_nats_and_the_logs_and_a_refused_login_shows_in_health(
    traced_system: RunningSystem, mail_stack: MailStack
) -> None:
    ann, bob = mail_stack.add_user(), mail_stack.add_user()
    tap = Wiretap(traced_system.nats_url())
    headers = {"Authorization": f"Bearer {traced_system.admin_key()}"}
    try:
        with httpx.Client(base_url=f"{traced_system.base_url}/api/v1", headers=headers, timeout=10) as api:
            server = api.post("/mail-servers", json={
                "name": "Stack", "smtp_host": f"127.0.0.1:{mail_stack.ports.submission}", "smtp_encryption": "auto",
                "smtp_auth": True, "incoming_protocol": "imap", "incoming_host": f"127.0.0.1:{mail_stack.ports.imaps}",
                "incoming_tls_mode": "implicit",
            }).json()  # fmt: skip
            owner = api.post("/users", json={"name": "Ann", "email": "ann@example.com"}).json()

            def account(login: str, password: str) -> str:
                body = {"owner": {"type": "user", "id": owner["id"]}, "server_id": server["id"],
                        "login": login, "password": password, "address": login}  # fmt: skip
                created = api.post("/mail-accounts", json=body)
                assert created.status_code == 201, created.text
                return str(created.json()["id"])

            sending, receiving = account(ann.address, ann.password), account(bob.address, bob.password)
            refused = account(bob.address, "not-the-password")

            # The send: API → SendRequested (through the outbox) → the sender → MailSent.
            send_trace, traceparent = _traceparent()
            queued = api.post(f"/mail-accounts/{sending}/messages", headers={TRACEPARENT: traceparent},
                              json={"to": [bob.address], "subject": "Traced", "text": "Hello"})  # fmt: skip
            assert queued.status_code == 202, queued.text
            assert trace_id_of(queued.headers[TRACEPARENT]) == send_trace
            _until(lambda: api.get(f"/outbox/{queued.json()['id']}").json()["status"] == "sent")
            assert send_trace in tap.traces(SendRequested.subject)
            _until(lambda: send_trace in tap.traces(MailSent.subject))
            sender_lines = _until(lambda: [line for line in _log_lines(traced_system, send_trace)
                                           if line["logger"].startswith("mailbridge.sender")])  # fmt: skip
            assert {line["msg"] for line in sender_lines} >= {"send ack"}
            # SendRequested names only its outbox row: the sender names the account once claimed
            assert {line.get("account_id") for line in sender_lines if line["msg"] == "send ack"} == {sending}

            # The fetch: API → FetchRequested → the fetcher → MailFetched, once the mail is there.
            mail_stack.wait_for_messages(bob.address, 1, timeout=WAIT_S)
            fetch_trace, traceparent = _traceparent()
            asked = api.post(f"/mail-accounts/{receiving}/fetch", headers={TRACEPARENT: traceparent})
            assert asked.status_code == 202, asked.text
            assert fetch_trace in tap.traces(FetchRequested.subject)
            _until(lambda: fetch_trace in tap.traces(MailFetched.subject))
            fetcher_lines = _until(lambda: [line for line in _log_lines(traced_system, fetch_trace)
                                            if line["logger"].startswith("mailbridge.fetcher")])  # fmt: skip
            assert {line["account_id"] for line in fetcher_lines} == {receiving}

            # A login Dovecot refuses: the account is failing, with the reason, since the fetch.
            assert api.get(f"/mail-accounts/{refused}").json()["health"]["state"] == "ok"
            assert api.post(f"/mail-accounts/{refused}/fetch").status_code == 202
            _until(lambda: api.get(f"/mail-accounts/{refused}/fetch-state").json()["status"] == "failed")
            health = api.get(f"/mail-accounts/{refused}").json()["health"]
            assert (health["state"], health["last_fetch"]["status"]) == ("failing", "failed")
            assert health["reason"].startswith("last fetch failed")
            assert health["failing_since"] == health["last_fetch"]["finished_at"]
            assert api.get(f"/mail-accounts/{receiving}").json()["health"]["state"] == "ok"
            failing = api.get("/health/accounts", params={"failing_for": "PT0S"}).json()["items"]
            assert [item["account_id"] for item in failing] == [refused]
            assert api.get("/health/accounts", params={"failing_for": "PT1H"}).json()["items"] == []
    finally:
        tap.close()
