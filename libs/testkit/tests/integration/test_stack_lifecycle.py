"""A stack of its own: every service listens on loopback after start, nothing is left after stop."""

import socket

import pytest
from mailbridge.testkit.dovecot import DovecotError
from mailbridge.testkit.ports import listening_sockets
from mailbridge.testkit.pytest_plugin import require_mail_servers
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.sweep import remove_stack


def test_start_listens_on_loopback_and_stop_cleans_up() -> None:
    require_mail_servers()
    stack = MailStack()
    early = stack.add_user("early.bird@mailbridge.test")
    stack.start()
    ports = set(vars(stack.ports).values())
    try:
        with stack.imap(early) as session:
            assert session.state == "AUTH"
        listening = {(address, port) for address, port in listening_sockets() if port in ports}
        assert listening == {("127.0.0.1", port) for port in ports}
        assert stack.dovecot.running
        assert stack.postfix.running
        folder = stack.folder
    finally:
        stack.stop()
    assert not stack.dovecot.running
    assert not stack.postfix.running
    assert not folder.exists()
    assert not {port for _, port in listening_sockets()} & ports


def test_a_stack_as_context_manager_keeps_its_folder_when_asked() -> None:
    require_mail_servers()
    with MailStack(keep=True) as stack:
        user = stack.add_user("keeper@example.org", "secret:with:colons")
        assert user.maildir.is_dir()
    try:
        assert stack.dovecot_log.exists()
        assert stack.postfix_log.exists()
        passwd = (stack.dovecot.paths.users / "keeper@example.org").read_text()
        assert passwd.startswith("keeper@example.org:{PLAIN.BASE64}")
    finally:
        remove_stack(stack.folder)


def test_a_taken_port_fails_the_start_with_dovecots_reason_and_leaves_nothing() -> None:
    require_mail_servers()
    stack = MailStack()
    with (
        socket.create_server((stack.host, stack.ports.imaps)),
        pytest.raises(DovecotError, match="Address already in use"),
    ):
        stack.start()
    assert not stack.folder.exists()
