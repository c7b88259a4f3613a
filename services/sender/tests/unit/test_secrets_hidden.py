"""An account's password never shows in a repr, a logged exception or a traceback (#12)."""

import logging
import traceback
import uuid

import pytest
from mailbridge.common.endpoints import Endpoint, TransportSecurity
from mailbridge.common.logging import JsonFormatter
from mailbridge.sender.model import Claimed
from mailbridge.sender.outgoing import OutgoingMail, SmtpTarget

PASSWORD = "hunter2-Geheim"


def _target() -> SmtpTarget:
    return SmtpTarget("smtp.example.net", 587, "auto", True, "alice@example.net", PASSWORD)


def _claimed() -> Claimed:
    mail = OutgoingMail(uuid.uuid4(), "alice@example.net", None, None, ("bob@example.net",))
    imap = Endpoint("imap.example.net", 143, TransportSecurity.STARTTLS)
    return Claimed(mail, _target(), None, 1, 5, "Sent", imap)


def test_the_password_is_not_in_a_repr() -> None:
    for shown in (repr(_target()), str(_target()), repr(_claimed())):
        assert "alice@example.net" in shown
        assert PASSWORD not in shown


def test_a_logged_exception_does_not_show_the_password(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("mailbridge.sender.test")
    target = _target()
    try:
        raise RuntimeError("cannot send", target, _claimed())
    except RuntimeError:
        with caplog.at_level(logging.ERROR, logger=logger.name):
            logger.exception("send failed", extra={"target": target})
    formatted = JsonFormatter().format(caplog.records[0])  # the sender's log format
    assert "smtp.example.net" in formatted
    assert "Traceback" in formatted
    assert PASSWORD not in formatted
    assert PASSWORD not in caplog.text


def test_a_traceback_with_its_locals_does_not_show_the_password() -> None:
    def send(target: SmtpTarget) -> None:
        claimed = _claimed()
        raise ConnectionError(f"{target.host} went away", claimed)

    try:
        send(_target())
    except ConnectionError as error:
        shown = "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    assert "target = SmtpTarget(" in shown
    assert "claimed = Claimed(" in shown
    assert PASSWORD not in shown
