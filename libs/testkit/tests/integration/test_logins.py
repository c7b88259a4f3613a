"""Logins over every incoming port, verification on, against the session's Dovecot."""

import imaplib
import poplib
import ssl

import pytest
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser


def _login_lines(stack: MailStack, user: MailUser) -> list[str]:
    log = stack.dovecot_log.read_text().splitlines()
    return [line for line in log if f"Login: user=<{user.address}>" in line]


def test_imap_starttls_login(mail_stack: MailStack, mail_user: MailUser) -> None:
    with imaplib.IMAP4(mail_stack.host, mail_stack.ports.imap) as session:
        assert "STARTTLS" in session.capabilities
        session.starttls(ssl_context=mail_stack.client_context())
        assert session.login(mail_user.address, mail_user.password)[0] == "OK"
    lines = _login_lines(mail_stack, mail_user)
    assert lines
    assert all(", TLS," in line for line in lines)  # the password went under TLS


def test_imaps_login(mail_stack: MailStack, mail_user: MailUser) -> None:
    context = mail_stack.client_context()
    with imaplib.IMAP4_SSL(mail_stack.host, mail_stack.ports.imaps, ssl_context=context) as session:
        assert session.login(mail_user.address, mail_user.password)[0] == "OK"


def test_pop3_stls_login(mail_stack: MailStack, mail_user: MailUser) -> None:
    session = poplib.POP3(mail_stack.host, mail_stack.ports.pop3)
    try:
        assert "STLS" in session.capa()
        session.stls(context=mail_stack.client_context())
        session.user(mail_user.address)
        assert session.pass_(mail_user.password).startswith(b"+OK")
        assert session.stat() == (0, 0)
    finally:
        session.quit()


def test_pop3s_login(mail_stack: MailStack, mail_user: MailUser) -> None:
    session = poplib.POP3_SSL(mail_stack.host, mail_stack.ports.pop3s, context=mail_stack.client_context())
    try:
        session.user(mail_user.address)
        assert session.pass_(mail_user.password).startswith(b"+OK")
    finally:
        session.quit()


def test_wrong_password_fails_and_the_next_login_still_works(
    mail_stack: MailStack, mail_user: MailUser
) -> None:
    context = mail_stack.client_context()
    session = imaplib.IMAP4_SSL(mail_stack.host, mail_stack.ports.imaps, ssl_context=context)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        session.login(mail_user.address, "wrong")
    session.shutdown()
    pop = poplib.POP3_SSL(mail_stack.host, mail_stack.ports.pop3s, context=context)
    pop.user(mail_user.address)
    with pytest.raises(poplib.error_proto, match="AUTH"):
        pop.pass_("wrong")
    pop.quit()
    with mail_stack.imap(mail_user) as session:
        assert session.state == "AUTH"


def test_a_client_without_the_ca_is_refused(mail_stack: MailStack) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(mail_stack.host, mail_stack.ports.imaps, ssl_context=ssl.create_default_context())


def test_condstore_and_special_use_folders(mail_stack: MailStack, mail_user: MailUser) -> None:
    with mail_stack.imap(mail_user) as session:
        capabilities = session.capability()[1][0].split()
        status, listing = session.list()
    assert b"CONDSTORE" in capabilities
    assert b"SPECIAL-USE" in capabilities
    assert status == "OK"
    folders = {line.split(b'"/"')[-1].strip().decode(): line for line in listing if isinstance(line, bytes)}
    for name in ("Drafts", "Sent", "Junk", "Trash", "Archive"):
        assert f"\\{name}".encode() in folders[name]
