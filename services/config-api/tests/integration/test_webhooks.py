"""Webhooks (#18) end to end on both databases, real NATS and a real HTTP receiver on loopback:
registration (201 with the secret shown once, 422 for a refused target), deliveries signed as the
Standard Webhooks reference implementation verifies, retried under the same `webhook-id` after a
500 and a timeout, given up (the endpoint disabled with the reason) after the last retry, never
sent to a forbidden address, filtered by business unit, resent, and logged per endpoint."""

import base64
import hashlib
import json
import uuid

import pytest
from config_api_testing import Api, account_body, imap_server_body
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.db.rotation import rotate_secrets
from mailbridge.common.db.webhooks import WebhookEndpoint
from mailbridge.common.events import AccountStateChanged, MailFetched
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.testkit.webhook_receiver import HANG, WebhookReceiver, webhook_receiver
from standardwebhooks import Webhook
from webhook_testing import (
    allow_private,
    api,
    fetched,
    log_of,
    private_nats,
    publish,
    receiver,
    register,
    settled_log,
    verified,
    webhook_settings,
)

__all__ = ["api", "private_nats", "receiver", "webhook_settings"]  # the fixtures this module uses

ALL_TYPES = ["MailFetched", "MailSent", "SendFailed", "AccountStateChanged", "TokenRefreshed"]


async def test_registration_answers_201_with_the_secret_once_and_stores_it_encrypted(api: Api) -> None:
    await allow_private(api)
    created = await api.create(
        "/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ALL_TYPES, "description": "ERP"}
    )
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # the reference implementation takes it as it is
    shown = (await api.get(f"/webhooks/{created['id']}")).json()
    assert shown["secret"] is None
    assert shown["event_types"] == ALL_TYPES
    assert shown["enabled"] is True
    async with api.running.sessions() as session:
        row = await session.get(WebhookEndpoint, uuid.UUID(created["id"]))
        assert row is not None
        assert created["secret"] not in row.secret_encrypted


@pytest.mark.parametrize(
    ("url", "private_allowed"),
    [
        ("http://169.254.169.254/latest/meta-data", True),  # link-local: cloud metadata
        ("http://100.100.100.200/", True),  # Alibaba's metadata address
        ("http://[fd00:ec2::254]/", True),  # AWS's IPv6 metadata address
        ("http://[fe80::1]/", True),
        ("http://[::ffff:169.254.169.254]/", True),  # IPv4 mapped into IPv6
        ("http://127.0.0.1:8080/hook", False),  # loopback without the setting
        ("http://localhost:8080/hook", False),  # a name: every address it resolves to is checked
        ("http://10.1.2.3/hook", False),  # a private range without the setting
        ("ftp://example.org/hook", True),
        ("http://user:pw@93.184.216.34/", True),
    ],
)
async def test_a_refused_target_gets_422_at_registration(api: Api, url: str, private_allowed: bool) -> None:
    await allow_private(api, private_allowed)
    response = await api.post("/webhooks", {"url": url, "event_types": ["MailSent"]})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "url"


async def test_a_delivery_is_signed_retried_under_one_id_after_a_500_and_a_timeout_and_logged(
    api: Api, receiver: WebhookReceiver
) -> None:
    await allow_private(api)
    hook = await register(api, receiver.url)
    receiver.plan(500, HANG, 204)
    event = fetched()
    await publish(api, event)
    requests = await receiver.received(3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    bodies = [verified(hook["secret"], request) for request in requests]
    assert bodies[0]["type"] == "MailFetched"
    assert bodies[0]["event_id"] == str(event.event_id)
    assert bodies[0]["data"]["subject_line"] == "Invoice 42"
    assert "raw_base64" not in bodies[0]["data"]
    assert bodies[0]["links"]["message"] == f"/api/v1/messages/{event.message_id}"
    log = await settled_log(api, hook["id"], "delivered")
    assert log[0]["webhook_id"] == requests[0].headers["webhook-id"]
    assert log[0]["attempts"] == 3
    assert [(a["outcome"], a["response_code"]) for a in log[0]["log"]] == [
        ("http_error", 500), ("timeout", None), ("delivered", 204),
    ]  # fmt: skip
    assert all(a["duration_ms"] >= 0 for a in log[0]["log"])
    metrics = (await api.client.get("http://mailbridge/metrics")).text
    assert 'mailbridge_webhook_attempts_total{outcome="timeout"}' in metrics


async def test_the_endpoint_is_disabled_with_a_reason_after_the_last_retry(
    api: Api, receiver: WebhookReceiver
) -> None:
    await allow_private(api)
    hook = await register(api, receiver.url)
    receiver.plan(500, 500, 503)
    await publish(api, fetched())
    log = await settled_log(api, hook["id"], "failed")
    assert [a["response_code"] for a in log[0]["log"]] == [500, 500, 503]
    shown = (await api.get(f"/webhooks/{hook['id']}")).json()
    assert shown["enabled"] is False
    assert "failed 3 times" in shown["disabled_reason"]
    assert "HTTP 503" in shown["disabled_reason"]
    await publish(api, fetched())  # a disabled endpoint records nothing more
    response = await api.patch(f"/webhooks/{hook['id']}", {"enabled": True})
    assert response.json()["enabled"] is True
    assert response.json()["disabled_reason"] is None
    assert len(await log_of(api, hook["id"])) == 1


async def test_nothing_is_sent_to_a_target_that_became_forbidden(api: Api, receiver: WebhookReceiver) -> None:
    await allow_private(api)
    hook = await register(api, receiver.url)
    await allow_private(api, False)  # checked again at delivery time
    await publish(api, fetched())
    log = await settled_log(api, hook["id"], "failed")
    assert {a["outcome"] for a in log[0]["log"]} == {"refused_target"}
    assert "loopback" in log[0]["last_error"]
    assert receiver.requests == []


async def test_an_endpoint_of_a_business_unit_gets_only_its_units_events(api: Api) -> None:
    await allow_private(api)
    north = await api.create("/business-units", {"name": "North"})
    south = await api.create("/business-units", {"name": "South"})
    with webhook_receiver() as north_hook, webhook_receiver() as every_hook:
        await register(api, north_hook.url, business_unit_id=north["id"])
        await register(api, every_hook.url)
        await publish(api, fetched(uuid.UUID(south["id"])))
        await publish(api, fetched(uuid.UUID(north["id"])))
        both = await every_hook.received(2)
        (only,) = await north_hook.received(1)
        units = [json.loads(r.body)["data"]["business_unit_id"] for r in (only, *both)]
        assert units[0] == north["id"]
        assert sorted(units[1:]) == sorted([north["id"], south["id"]])


async def test_resend_delivers_again_under_the_same_id(api: Api, receiver: WebhookReceiver) -> None:
    await allow_private(api)
    hook = await register(api, receiver.url)
    await publish(api, fetched())
    (first,) = await receiver.received(1)
    log = await settled_log(api, hook["id"], "delivered")
    response = await api.post(f"/webhooks/{hook['id']}/deliveries/{log[0]['id']}/resend")
    assert response.status_code == 202, response.text
    _, again = await receiver.received(2)
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert verified(hook["secret"], again) == verified(hook["secret"], first)


async def test_a_rotated_secret_signs_beside_the_previous_one(api: Api, receiver: WebhookReceiver) -> None:
    await allow_private(api)
    hook = await register(api, receiver.url)
    response = await api.post(f"/webhooks/{hook['id']}/rotate-secret")
    assert response.status_code == 200, response.text
    rotated = response.json()["secret"]
    assert rotated != hook["secret"]
    assert rotated.startswith("whsec_")
    await publish(api, fetched())
    (request,) = await receiver.received(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified(rotated, request) == verified(hook["secret"], request)


async def test_an_event_without_a_business_unit_is_filed_under_its_accounts(api: Api) -> None:
    await allow_private(api)
    north = await api.create("/business-units", {"name": "North"})
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    account = await api.create(
        "/mail-accounts", account_body(server["id"], "user", ann["id"], business_unit_id=north["id"])
    )
    with webhook_receiver() as north_hook:
        await register(api, north_hook.url, business_unit_id=north["id"], event_types=["AccountStateChanged"])
        await publish(api, AccountStateChanged(account_id=uuid.uuid4(), state="failing", reason="elsewhere"))
        await publish(
            api, AccountStateChanged(account_id=uuid.UUID(account["id"]), state="failing", reason="auth")
        )
        (only,) = await north_hook.received(1)
        body = json.loads(only.body)
        assert body["data"]["account_id"] == account["id"]
        assert body["links"] == {"account": f"/api/v1/mail-accounts/{account['id']}"}


async def test_a_name_is_resolved_checked_and_connected_to_by_address_under_its_own_host(
    api: Api, receiver: WebhookReceiver
) -> None:
    await allow_private(api)
    url = receiver.url.replace("127.0.0.1", "localhost")  # ::1 first on some hosts: not listening
    hook = await register(api, url)
    await publish(api, fetched())
    (request,) = await receiver.received(1)
    assert request.headers["host"] == url.split("/")[2]
    assert verified(hook["secret"], request)["type"] == "MailFetched"


async def test_the_message_itself_goes_only_to_an_endpoint_that_asked_for_it(api: Api) -> None:
    await allow_private(api)
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    account = await api.create("/mail-accounts", account_body(server["id"], "user", ann["id"]))
    raw = b"From: a@example.org\r\nSubject: Invoice 42\r\n\r\nTotal: 12 EUR\r\n"
    async with api.running.sessions() as session:
        stored = StoredMessage(
            account_id=uuid.UUID(account["id"]), folder="INBOX", uidvalidity=1, uid=1,
            sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), raw=raw, subject="Invoice 42",
        )  # fmt: skip
        session.add(stored)
        await session.flush()
        message_id = stored.id
        await session.commit()
    with webhook_receiver() as asked, webhook_receiver() as plain:
        await register(api, asked.url, include_body=True)
        await register(api, plain.url)
        event = MailFetched(
            account_id=uuid.UUID(account["id"]), business_unit_id=None, folder="INBOX", message_id=message_id,
            subject_line="Invoice 42", from_address="a@example.org", size=len(raw),
            sha256=hashlib.sha256(raw).hexdigest(),
        )  # fmt: skip
        await publish(api, event)  # occurred after the endpoints were registered
        (with_body,) = await asked.received(1)
        (without,) = await plain.received(1)
    assert base64.b64decode(json.loads(with_body.body)["data"]["raw_base64"]) == raw
    assert b"Total: 12 EUR" not in without.body
    assert "raw_base64" not in json.loads(without.body)["data"]


async def test_key_rotation_re_encrypts_the_signing_secrets(
    api: Api, webhook_settings: ConfigApiSettings
) -> None:
    await allow_private(api)
    hook = await register(api, "http://127.0.0.1:9/hook")
    rotated = (await api.post(f"/webhooks/{hook['id']}/rotate-secret")).json()["secret"]
    assert webhook_settings.secret_key is not None
    new = generate_key()
    ring = SecretBox.from_ring(f"{new},{webhook_settings.secret_key.get_secret_value()}")
    assert await rotate_secrets(api.running.sessions, ring) == 2  # the current and the previous secret
    async with api.running.sessions() as session:
        row = await session.get(WebhookEndpoint, uuid.UUID(hook["id"]))
        assert row is not None
        assert row.previous_secret_encrypted is not None
        secrets = (
            SecretBox([new]).decrypt(row.secret_encrypted),
            SecretBox([new]).decrypt(row.previous_secret_encrypted),
        )
    assert secrets == (rotated, hook["secret"])


async def test_a_business_unit_with_a_webhook_is_not_deleted_under_it(api: Api) -> None:
    """Deleting the unit would silently take its endpoints with it (the link cascades): it is
    refused (409) naming the webhook, like a unit still used by users or accounts."""
    await allow_private(api)
    unit = await api.create("/business-units", {"name": "West"})
    hook = await register(api, "http://127.0.0.1:9/hook", business_unit_id=unit["id"])
    blocked = await api.delete(f"/business-units/{unit['id']}")
    assert blocked.status_code == 409, blocked.text
    assert blocked.json()["blocking_ids"] == [hook["id"]]
    assert (await api.get(f"/webhooks/{hook['id']}")).status_code == 200
