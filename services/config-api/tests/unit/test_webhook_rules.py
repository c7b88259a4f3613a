"""Webhooks' pure rules (#18): which targets may receive webhooks, Standard Webhooks signatures as
the reference implementation (PyPI `standardwebhooks`) verifies them, the retry schedule, and what
a body carries by default."""

import ipaddress
import json
import uuid
from datetime import UTC, datetime

import pytest
from mailbridge.common.events import MailFetched, MailSent
from mailbridge.config_api.webhook_delivery.payloads import payload
from mailbridge.config_api.webhook_delivery.schedule import DEFAULT_DELAYS_S, RetrySchedule
from mailbridge.config_api.webhooks.signing import new_secret, signed_headers
from mailbridge.config_api.webhooks.targets import TargetRefused, check_address, parse_target
from standardwebhooks import Webhook, WebhookVerificationError


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "169.254.0.1", "fe80::1", "100.100.100.200", "fd00:ec2::254", "::ffff:169.254.169.254",
     "0.0.0.0", "::", "224.0.0.1", "240.0.0.1"],  # noqa: S104 - refused, never bound
)  # fmt: skip
def test_link_local_metadata_and_non_unicast_addresses_are_refused_even_when_private_is_allowed(
    address: str,
) -> None:
    with pytest.raises(TargetRefused):
        check_address(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "fd12::1"]
)
def test_loopback_and_private_ranges_need_the_setting(address: str) -> None:
    with pytest.raises(TargetRefused, match="webhooks_allow_private_targets"):
        check_address(ipaddress.ip_address(address), allow_private=False)
    check_address(ipaddress.ip_address(address), allow_private=True)


def test_a_public_address_is_allowed() -> None:
    check_address(ipaddress.ip_address("93.184.216.34"), allow_private=False)
    check_address(ipaddress.ip_address("2606:2800:220:1::1"), allow_private=False)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/", "file:///etc/passwd", "http:///path", "https://u:p@example.org/", "x"]
)
def test_only_http_urls_with_a_host_and_no_credentials(url: str) -> None:
    with pytest.raises(TargetRefused):
        parse_target(url)


def test_signatures_verify_with_the_reference_implementation_with_either_secret_during_rotation() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"type":"MailSent"}'
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers([new, old], "msg_1", now, body)
    assert Webhook(new).verify(body, headers) == Webhook(old).verify(body, headers) == {"type": "MailSent"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_the_schedule_retries_within_two_minutes_for_about_a_day_then_gives_up() -> None:
    schedule = RetrySchedule()
    first = schedule.delay_after(1)
    assert first is not None
    assert first <= 120
    assert 24 * 3600 <= sum(DEFAULT_DELAYS_S) <= 26 * 3600
    assert schedule.delay_after(len(DEFAULT_DELAYS_S)) is not None
    assert schedule.delay_after(len(DEFAULT_DELAYS_S) + 1) is None


def test_a_body_carries_the_headers_summary_and_links_and_the_message_only_when_asked() -> None:
    event = MailFetched(
        account_id=uuid.uuid4(), business_unit_id=None, folder="INBOX", message_id=uuid.uuid4(),
        subject_line="Hello", from_address="a@example.org", size=10, sha256="00" * 32,
    )  # fmt: skip
    plain = json.loads(payload("MailFetched", event, "https://mb.example/api/v1"))
    assert plain["data"]["subject_line"] == "Hello"
    assert "raw_base64" not in plain["data"]
    assert plain["links"] == {
        "message": f"https://mb.example/api/v1/messages/{event.message_id}",
        "raw": f"https://mb.example/api/v1/messages/{event.message_id}/raw",
        "account": f"https://mb.example/api/v1/mail-accounts/{event.account_id}",
    }
    asked = json.loads(payload("MailFetched", event, "/api/v1", raw=b"Subject: Hello\r\n\r\nHi"))
    assert asked["data"]["raw_base64"] == "U3ViamVjdDogSGVsbG8NCg0KSGk="
    sent = json.loads(
        payload("MailSent", MailSent(outbox_id=uuid.uuid4(), smtp_reply="250 ok", attempt=1), "")
    )
    assert list(sent["links"]) == ["outbox"]
