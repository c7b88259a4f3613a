"""#15 metrics: one send's outcome label (mailbridge_sends_total)."""

from mailbridge.sender.model import Verdict
from mailbridge.sender.send_outbox import SendResult
from mailbridge.sender.subscribers import send_label


def test_send_labels() -> None:
    assert send_label(SendResult(Verdict.DONE, "250 ok", attempt=1)) == "sent"
    assert send_label(SendResult(Verdict.DONE, "already sent or failed")) == "nothing_to_do"  # a redelivery
    assert send_label(SendResult(Verdict.RETRY, "451 later", attempt=2)) == "retry"
    assert send_label(SendResult(Verdict.GIVE_UP, "550 no such user", attempt=1)) == "failed"
