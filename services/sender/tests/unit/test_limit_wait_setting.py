"""#17: how long a mail waits in the sender for its turn under the provider's limits is a setting
(MAILBRIDGE_SEND_LIMIT_WAIT_S, a minute by default): a turn within it is waited for in the
process, a later one goes back to the queue without spending an attempt."""

import pytest
from mailbridge.common.provider_limits import ProviderLimits
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.sender.adapters.send_limits import LimitedMailer
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Delivery
from mailbridge.sender.retry_policy import LIMIT_WAIT
from mailbridge.sender.settings import SenderSettings
from mailbridge.testkit.limits_memory import MemoryStore
from pydantic import ValidationError
from sender_testing import CountingMailer

TARGET = SmtpTarget(
    "smtp.example.org", 587, "auto", True, "ann", "secret",
    limits=ProviderLimits(messages_per_minute_per_mailbox=2),  # one mail every 30 s after the first two
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now, self.slept = 1_800_000_000.0, 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


async def third_mail(wait_s: float) -> tuple[Delivery, CountingMailer, Clock]:
    """Three mails at once to a mailbox allowed two a minute: the third's turn is 30 s away."""
    inner, clock = CountingMailer(), Clock()
    mailer = LimitedMailer(inner, SharedLimits(MemoryStore(), clock), wait_s, clock=clock, sleep=clock.sleep)
    for _ in range(2):
        assert (
            await mailer.deliver(TARGET, b"m", "ann@example.org", ("bob@example.org",))
        ).outcome is Verdict.DONE
    return await mailer.deliver(TARGET, b"m", "ann@example.org", ("bob@example.org",)), inner, clock


def test_the_wait_is_a_setting_with_a_minute_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILBRIDGE_SEND_LIMIT_WAIT_S", raising=False)
    assert SenderSettings().send_limit_wait_s == 60.0
    monkeypatch.setenv("MAILBRIDGE_SEND_LIMIT_WAIT_S", "10")
    assert SenderSettings().send_limit_wait_s == 10.0
    monkeypatch.setenv("MAILBRIDGE_SEND_LIMIT_WAIT_S", "-1")
    with pytest.raises(ValidationError, match="send_limit_wait_s"):
        SenderSettings()


async def test_a_turn_within_the_default_wait_is_waited_for_in_the_sender() -> None:
    delivery, inner, clock = await third_mail(SenderSettings.model_fields["send_limit_wait_s"].default)
    assert (delivery.outcome, inner.sent) == (Verdict.DONE, 3)
    assert 29.0 < clock.slept <= 30.0  # waited in the process for its turn


async def test_a_turn_beyond_a_shorter_wait_goes_back_to_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBRIDGE_SEND_LIMIT_WAIT_S", "10")
    delivery, inner, clock = await third_mail(SenderSettings().send_limit_wait_s)
    assert (delivery.outcome, inner.sent, clock.slept) == (Verdict.RETRY, 2, 0.0)
    assert delivery.reply.startswith(LIMIT_WAIT)
