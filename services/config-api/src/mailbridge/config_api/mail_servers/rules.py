"""Mail server rules that span fields: which settings belong to which incoming protocol."""

from mailbridge.common.endpoints import IncomingProtocol
from mailbridge.common.plaintext_auth import plaintext_auth_refusal
from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.mail_servers.schemas import MailServerIn

IMAP_ONLY_FOLDERS = ("trash_folder", "spam_folder", "sent_folder")  # S10
POP3_ONLY = {"delete_after_fetch": "S11", "delete_after_days": "S12"}


def protocol_problems(data: MailServerIn) -> list[FieldProblem | None]:
    """S10: folders are IMAP only; S11, S12: deleting on the server is POP3 only."""
    pop3 = data.incoming_protocol is IncomingProtocol.POP3
    problems: list[FieldProblem | None] = []
    if pop3:
        problems += [
            FieldProblem(name, "S10", f"{name} applies to IMAP servers only, this one is POP3")
            for name in IMAP_ONLY_FOLDERS
            if getattr(data, name) is not None
        ]
    else:
        problems += [
            FieldProblem(name, rule, f"{name} applies to POP3 servers only")
            for name, rule in POP3_ONLY.items()
            if getattr(data, name) not in (None, False)
        ]
    return problems


def plaintext_auth_problem(data: MailServerIn) -> FieldProblem | None:
    """S4: no password in clear, unless to loopback or allowed (`common.plaintext_auth`)."""
    why = plaintext_auth_refusal(
        data.smtp_host, data.smtp_encryption, data.smtp_auth, data.allow_plaintext_auth
    )
    return FieldProblem("smtp_encryption", "S4", why) if why else None
