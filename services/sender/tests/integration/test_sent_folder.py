"""Appending to the Sent folder (S10) on the real Dovecot: once, whatever the number of attempts."""

from datetime import UTC, datetime

import pytest
from mailbridge.common.endpoints import Endpoint, TransportSecurity
from mailbridge.sender.adapters.sent_folder import ImapSentFolder, append_once
from mailbridge.sender.mime import build_message
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import SentFolderFailure
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from sender_testing import delivered, outgoing


def _target(user: MailUser, password: str | None = None) -> SmtpTarget:
    return SmtpTarget("127.0.0.1", 587, "auto", True, user.address, password or user.password)


async def test_s10_append_then_append_again_keeps_one_copy(
    mail_stack: MailStack, mail_user: MailUser
) -> None:
    built = build_message(outgoing(mail_user.address, ("bob@example.net",)), datetime.now(UTC))
    folder = ImapSentFolder(mail_stack.client_context(), timeout_s=10.0)
    imap = Endpoint("127.0.0.1", mail_stack.ports.imap, TransportSecurity.STARTTLS)
    await folder.append_once(_target(mail_user), imap, "Sent", built.raw, built.message_id)
    await folder.append_once(_target(mail_user), imap, "Sent", built.raw, built.message_id)
    assert delivered(mail_stack, mail_user, "Sent") == [built.raw]
    other = build_message(outgoing(mail_user.address, ("bob@example.net",)), datetime.now(UTC))
    await folder.append_once(_target(mail_user), imap, "Sent", other.raw, other.message_id)
    assert delivered(mail_stack, mail_user, "Sent") == [built.raw, other.raw]


async def test_s10_over_implicit_tls_into_a_folder_with_a_non_ascii_name(
    mail_stack: MailStack, mail_user: MailUser
) -> None:
    built = build_message(outgoing(mail_user.address, ("bob@example.net",)), datetime.now(UTC))
    args = (mail_stack.host, mail_stack.ports.imaps, TransportSecurity.IMPLICIT_TLS, mail_stack.client_context(),
            mail_user.address, mail_user.password, "Gesendete Objekte & Entwürfe", built.raw, built.message_id)  # fmt: skip
    assert await append_once(*args) is True
    assert await append_once(*args) is False
    with mail_stack.imap(mail_user) as session:
        _, listed = session.list()
    assert any(b'"Gesendete Objekte &- Entw&APw-rfe"' in line for line in listed if isinstance(line, bytes))
    assert delivered(mail_stack, mail_user, "Gesendete Objekte &- Entw&APw-rfe") == [built.raw]


async def test_s10_a_wrong_password_is_permanent(mail_stack: MailStack, mail_user: MailUser) -> None:
    built = build_message(outgoing(mail_user.address, ("bob@example.net",)), datetime.now(UTC))
    folder = ImapSentFolder(mail_stack.client_context(), timeout_s=10.0)
    with pytest.raises(SentFolderFailure) as failure:
        await folder.append_once(
            _target(mail_user, "wrong"),
            Endpoint("127.0.0.1", mail_stack.ports.imap, TransportSecurity.STARTTLS),
            "Sent",
            built.raw,
            built.message_id,
        )
    assert failure.value.verdict is Verdict.GIVE_UP
    assert failure.value.reason.startswith(f"IMAP login as {mail_user.address} answered NO")
