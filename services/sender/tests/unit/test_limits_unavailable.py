"""#17: when the shared limits cannot be read (NATS away) a mail is not sent blind: it is retried
like a network failure, naming the cause."""

from mailbridge.common.shared_limits import SharedLimits
from mailbridge.sender.adapters.send_limits import LimitedMailer
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.retry_policy import RetryReason, retry_reason
from sender_testing import CountingMailer


class Unreachable:
    async def read(self, key: str) -> tuple[bytes | None, int]:
        raise ConnectionError("nats: no servers available for connection")

    async def write(self, key: str, value: bytes, revision: int) -> bool:
        raise ConnectionError("nats: no servers available for connection")


async def test_a_mail_waits_when_the_limits_cannot_be_read() -> None:
    inner = CountingMailer()
    mailer = LimitedMailer(inner, SharedLimits(Unreachable()))
    target = SmtpTarget("smtp.example.org", 587, "auto", True, "ann", "secret")
    delivery = await mailer.deliver(target, b"mail", "ann@example.org", ("bob@example.org",))
    assert (delivery.outcome, inner.sent) == (Verdict.RETRY, 0)
    assert "shared provider limits could not be read" in delivery.reply
    assert "no servers available" in delivery.reply
    assert retry_reason(delivery.reply) is RetryReason.NETWORK
