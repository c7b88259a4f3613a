"""Seeding Maildirs on disk, users added while running, and the UIDVALIDITY reset."""

import imaplib

from mailbridge.testkit.maildir import generate_messages
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser


def _select(session: imaplib.IMAP4, folder: str = "INBOX") -> tuple[int, int]:
    """(message count, UIDVALIDITY) of a fresh SELECT."""
    status, data = session.select(folder)
    assert status == "OK", data
    _, uidvalidity = session.response("UIDVALIDITY")
    return int(data[0] or 0), int(uidvalidity[0] or 0)


def test_a_thousand_seeded_messages_show_in_select(mail_stack: MailStack, mail_user: MailUser) -> None:
    written = mail_stack.seed(mail_user.address, generate_messages(1000, to=mail_user.address))
    assert len(written) == 1000
    with mail_stack.imap(mail_user) as session:
        assert _select(session)[0] == 1000


def test_seeding_into_trash_with_flags(mail_stack: MailStack, mail_user: MailUser) -> None:
    mail_stack.seed(mail_user.address, generate_messages(3, to=mail_user.address), folder="Trash", flags="S")
    with mail_stack.imap(mail_user) as session:
        assert _select(session, "Trash")[0] == 3
        _, flags = session.fetch("1:*", "FLAGS")
    assert len(flags) == 3
    assert all(isinstance(line, bytes) and b"\\Seen" in line for line in flags)


def test_a_user_added_while_running_logs_in(mail_stack: MailStack) -> None:
    user = mail_stack.add_user("late.arrival@mailbridge.test", "p@ss: word")
    with mail_stack.imap(user) as session:
        assert _select(session)[0] == 0


def test_reset_uidvalidity_changes_it(mail_stack: MailStack, mail_user: MailUser) -> None:
    mail_stack.seed(mail_user.address, generate_messages(5, to=mail_user.address))
    with mail_stack.imap(mail_user) as session:
        _, before = _select(session)
    new = mail_stack.reset_uidvalidity(mail_user.address)
    assert new != before
    with mail_stack.imap(mail_user) as session:
        _, status = session.status("INBOX", "(UIDVALIDITY)")
        assert f"UIDVALIDITY {new}".encode() in bytes(status[0] or b"")
        assert _select(session) == (5, new)


def test_reset_uidvalidity_of_a_seeded_folder_never_opened(
    mail_stack: MailStack, mail_user: MailUser
) -> None:
    mail_stack.seed(mail_user.address, generate_messages(2, to=mail_user.address), folder="Archive")
    before = mail_stack.uidvalidity(mail_user.address, "Archive")
    assert mail_stack.reset_uidvalidity(mail_user.address, "Archive") == before + 1
