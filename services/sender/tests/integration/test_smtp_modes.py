"""The three encryption modes (S4) and AUTH (S5) against the real Postfix, delivery to Dovecot
through LMTP, and the delivered headers as built: alias (A7), Reply-To (A6), Message-ID, and
Bcc plus the account's BCC (A9) delivered but nowhere in the headers."""

import re
import ssl
from datetime import UTC, datetime
from email import message_from_bytes, policy

from mailbridge.sender.adapters.smtp import SmtpPool, send
from mailbridge.sender.mime import build_message
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from sender_testing import delivered, outgoing

SENT = Verdict.DONE


def _received_with(raw: bytes) -> str:
    """The protocol Postfix noted (RFC 3848): ESMTP in clear, ESMTPS under TLS, ESMTPSA with AUTH too."""
    found = re.search(r"\(Postfix\) with (\w+) id", raw.decode(errors="replace"))
    assert found is not None, "Postfix's Received header"
    return found.group(1)


async def test_s4_none_sends_in_clear_on_the_plain_port(mail_stack: MailStack, mail_user: MailUser) -> None:
    target = SmtpTarget(mail_stack.host, mail_stack.ports.smtp, "none", auth=False, login="", password=None)
    built = build_message(outgoing("someone@example.org", (mail_user.address,)), datetime.now(UTC))
    result = await send(target, built, mail_stack.client_context(), 10.0)
    assert result.outcome is SENT, result.reply
    mail_stack.wait_for_messages(mail_user.address, 1)
    [raw] = delivered(mail_stack, mail_user)
    assert _received_with(raw) == "ESMTP", "none: no STARTTLS, although the port offers it"


async def test_s4_auto_upgrades_then_logs_in_on_submission(
    mail_stack: MailStack, mail_user: MailUser
) -> None:
    target = SmtpTarget(
        mail_stack.host, mail_stack.ports.submission, "auto", True, mail_user.address, mail_user.password
    )
    built = build_message(outgoing(mail_user.address, (mail_user.address,)), datetime.now(UTC))
    result = await send(target, built, mail_stack.client_context(), 10.0)
    assert result.outcome is SENT, result.reply
    mail_stack.wait_for_messages(mail_user.address, 1)
    [raw] = delivered(mail_stack, mail_user)
    assert _received_with(raw) == "ESMTPSA"
    assert f"sasl_username={mail_user.address}" in mail_stack.postfix_log.read_text()


async def test_s4_auto_without_auth_upgrades_when_offered(mail_stack: MailStack, mail_user: MailUser) -> None:
    target = SmtpTarget(mail_stack.host, mail_stack.ports.smtp, "auto", auth=False, login="", password=None)
    built = build_message(outgoing("someone@example.org", (mail_user.address,)), datetime.now(UTC))
    assert (await send(target, built, mail_stack.client_context(), 10.0)).outcome is SENT
    mail_stack.wait_for_messages(mail_user.address, 1)
    assert _received_with(delivered(mail_stack, mail_user)[0]) == "ESMTPS"


async def test_s4_ssl_logs_in_over_implicit_tls(mail_stack: MailStack, mail_user: MailUser) -> None:
    target = SmtpTarget(
        mail_stack.host, mail_stack.ports.smtps, "ssl", True, mail_user.address, mail_user.password
    )
    built = build_message(outgoing(mail_user.address, (mail_user.address,)), datetime.now(UTC))
    result = await send(target, built, mail_stack.client_context(), 10.0)
    assert result.outcome is SENT, result.reply
    mail_stack.wait_for_messages(mail_user.address, 1)
    assert _received_with(delivered(mail_stack, mail_user)[0]) == "ESMTPSA"


async def test_s5_a_wrong_password_is_permanent_with_the_reason(
    mail_stack: MailStack, mail_user: MailUser
) -> None:
    target = SmtpTarget(
        mail_stack.host, mail_stack.ports.submission, "auto", True, mail_user.address, "wrong"
    )
    built = build_message(outgoing(mail_user.address, (mail_user.address,)), datetime.now(UTC))
    result = await send(target, built, mail_stack.client_context(), 10.0)
    assert result.outcome is Verdict.GIVE_UP
    assert result.reply.startswith(
        f"login as {mail_user.address} at 127.0.0.1:{mail_stack.ports.submission} rejected: 535"
    )


async def test_certificates_are_verified(mail_stack: MailStack, mail_user: MailUser) -> None:
    target = SmtpTarget(
        mail_stack.host, mail_stack.ports.smtps, "ssl", True, mail_user.address, mail_user.password
    )
    built = build_message(outgoing(mail_user.address, (mail_user.address,)), datetime.now(UTC))
    result = await send(target, built, ssl.create_default_context(), 10.0)  # the stack's CA not trusted
    assert result.outcome is Verdict.GIVE_UP  # #17: a certificate is not retried
    assert result.reply.startswith(
        f"the TLS certificate of 127.0.0.1:{mail_stack.ports.smtps} is not trusted"
    )


async def test_a9_bcc_delivered_but_invisible_and_headers_as_built(mail_stack: MailStack) -> None:
    sender, to, cc, bcc, archive = (mail_stack.add_user() for _ in range(5))
    mail = outgoing(
        sender.address, (to.address,), cc=(cc.address,), bcc=(bcc.address,), account_bcc=archive.address,
        alias="Jürgen Müller (Vertrieb)", reply_to="team@example.org", subject="Angebot für Sie",
    )  # fmt: skip
    built = build_message(mail, datetime.now(UTC))
    target = SmtpTarget(mail_stack.host, mail_stack.ports.smtps, "ssl", True, sender.address, sender.password)
    pool = SmtpPool(mail_stack.client_context(), timeout_s=10.0)
    try:
        result = await pool.send(target, built)
    finally:
        await pool.close()
    assert result.outcome is SENT, result.reply
    assert [r.code for r in result.recipients] == [250, 250, 250, 250]
    for user in (to, cc, bcc, archive):
        mail_stack.wait_for_messages(user.address, 1)
    for user in (to, cc, bcc, archive):
        [raw] = delivered(mail_stack, user)
        message = message_from_bytes(raw, policy=policy.default)
        assert "Bcc" not in message
        for blind in (bcc, archive):
            naming = {name for name, value in message.items() if blind.address in str(value)}
            # only the delivering server's trace, and only in the blind recipient's own copy
            assert naming <= ({"Delivered-To", "Received"} if blind is user else set()), (user, blind, naming)
        assert message["From"].addresses[0].display_name == "Jürgen Müller (Vertrieb)"
        assert message["From"].addresses[0].addr_spec == sender.address
        assert message["Reply-To"] == "team@example.org"
        assert message["Message-ID"] == built.message_id
        assert message["Subject"] == "Angebot für Sie"
