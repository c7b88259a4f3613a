"""Postfix's smtp-sink on a free loopback port: accepts mail, keeps nothing."""

import smtplib
from email.message import EmailMessage

import pytest
from mailbridge.testkit.pytest_plugin import require_mail_servers
from mailbridge.testkit.smtp_sink import smtp_sink


def test_smtp_sink_accepts_and_stops() -> None:
    require_mail_servers()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "sink"
    message.set_content("benchmark payload\n")
    with smtp_sink(options=["-c"]) as sink:
        with smtplib.SMTP(sink.host, sink.port) as smtp:
            assert smtp.send_message(message) == {}
        # smtp-sink answers AUTH with 250 instead of 235, which clients take for a failure.
        with smtplib.SMTP(sink.host, sink.port) as smtp, pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("anyone", "anything")
    assert sink.process.poll() is not None
