"""Sending through Postfix: submission and smtps with AUTH, the plain relay, the sink."""

import secrets
import smtplib
from email.message import EmailMessage

import pytest
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser


def _message(sender: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = f"test {secrets.token_hex(6)}"
    message.set_content("Hello from the test stack.\n")
    return message


def _subjects(stack: MailStack, user: MailUser) -> list[str]:
    with stack.imap(user) as session:
        _, count = session.select("INBOX", readonly=True)
        if count[0] == b"0":
            return []
        _, data = session.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    return [part[1].decode().split(":", 1)[1].strip() for part in data if isinstance(part, tuple)]


def test_submission_requires_starttls_before_auth(mail_stack: MailStack, mail_user: MailUser) -> None:
    with smtplib.SMTP(mail_stack.host, mail_stack.ports.submission) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            smtp.login(mail_user.address, mail_user.password)
        code, _ = smtp.mail(mail_user.address)
        assert code == 530  # 5.7.0 Must issue a STARTTLS command first


def test_submission_with_starttls_and_auth_delivers_to_the_inbox(
    mail_stack: MailStack, mail_user: MailUser
) -> None:
    message = _message(mail_user.address, mail_user.address)
    with smtplib.SMTP(mail_stack.host, mail_stack.ports.submission) as smtp:
        smtp.starttls(context=mail_stack.client_context())
        smtp.login(mail_user.address, mail_user.password)
        smtp.send_message(message)
    mail_stack.wait_for_messages(mail_user.address, 1)
    assert _subjects(mail_stack, mail_user) == [message["Subject"]]
    assert f"sasl_username={mail_user.address}" in mail_stack.postfix_log.read_text()


def test_smtps_with_auth_delivers_to_the_inbox(mail_stack: MailStack, mail_user: MailUser) -> None:
    message = _message(mail_user.address, mail_user.address)
    with smtplib.SMTP_SSL(
        mail_stack.host, mail_stack.ports.smtps, context=mail_stack.client_context()
    ) as smtp:
        smtp.login(mail_user.address, mail_user.password)
        smtp.send_message(message)
    mail_stack.wait_for_messages(mail_user.address, 1)
    assert _subjects(mail_stack, mail_user) == [message["Subject"]]


def test_smtps_refuses_a_wrong_password(mail_stack: MailStack, mail_user: MailUser) -> None:
    context = mail_stack.client_context()
    with (
        smtplib.SMTP_SSL(mail_stack.host, mail_stack.ports.smtps, context=context) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        smtp.login(mail_user.address, "wrong")


def test_plain_smtp_relays_from_loopback_without_auth(mail_stack: MailStack, mail_user: MailUser) -> None:
    message = _message("someone@example.net", mail_user.address)
    with smtplib.SMTP(mail_stack.host, mail_stack.ports.smtp) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        smtp.send_message(message)
    mail_stack.wait_for_messages(mail_user.address, 1)
    assert _subjects(mail_stack, mail_user) == [message["Subject"]]


def test_mail_to_a_foreign_domain_lands_in_the_sink(mail_stack: MailStack, mail_user: MailUser) -> None:
    before = len(_subjects(mail_stack, mail_stack.sink))
    message = _message(mail_user.address, "nobody@elsewhere.example")
    with smtplib.SMTP(mail_stack.host, mail_stack.ports.submission) as smtp:
        smtp.starttls(context=mail_stack.client_context())
        smtp.login(mail_user.address, mail_user.password)
        smtp.send_message(message)
    mail_stack.wait_for_messages(mail_stack.sink.address, before + 1)
    assert message["Subject"] in _subjects(mail_stack, mail_stack.sink)
