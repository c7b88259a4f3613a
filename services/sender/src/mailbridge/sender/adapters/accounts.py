"""Where and as whom an account sends: its SMTP target, its Sent folder's server, its mail."""

import uuid
from dataclasses import dataclass
from typing import Any

from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.endpoints import (
    Endpoint,
    SmtpEncryption,
    incoming_endpoint,
    parse_host_port,
    smtp_port,
)
from mailbridge.common.provider_limits import LIMIT_FIELDS, ProviderLimits, effective_limits
from mailbridge.common.secrets import SecretBox, SecretKeyError
from mailbridge.sender.outgoing import Attachment, OutgoingMail, SmtpTarget
from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

_IDS: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)
_SENDERS = (
    select(MailAccount, MailServer)
    .join(MailServer, MailServer.id == MailAccount.server_id)
    .where(MailAccount.id.in_(_IDS))
)


@dataclass(frozen=True)
class Sender:
    account: MailAccount
    target: SmtpTarget
    imap: Endpoint
    sent_folder: str | None

    def mail(self, outbox_id: uuid.UUID, request: dict[str, Any], files: list[Attachment]) -> OutgoingMail:
        account, field = self.account, request.get
        return OutgoingMail(
            outbox_id=outbox_id, from_address=account.address, alias=account.alias, reply_to=account.reply_to,
            to=tuple(field("to", [])), cc=tuple(field("cc", [])), bcc=tuple(field("bcc", [])),
            account_bcc=account.send_bcc, subject=field("subject", ""), text=field("text"),
            html=field("html"), attachments=tuple(files), in_reply_to=field("in_reply_to"),
            references=tuple(field("references", [])),
            message_id_domain=account.address.rsplit("@", 1)[-1],
            extra_headers=dict(field("headers", {})),  # e.g. Auto-Submitted on an out-of-office reply (A12)
        )  # fmt: skip


async def senders(
    session: AsyncSession, secrets: SecretBox, account_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Sender | str]:
    """Where and as whom each account sends, worked out once per batch; for an account that
    cannot send, the reason (one account's problem never fails the rest of the batch)."""
    found: dict[uuid.UUID, Sender | str] = {}
    if account_ids:
        for account, server in await session.execute(_SENDERS, {"ids": list(account_ids)}):
            try:
                found[account.id] = Sender(
                    account, _target(server, account, secrets), _imap(server),
                    server.sent_folder if server.incoming_protocol != "pop3" else None,
                )  # fmt: skip
            except (SecretKeyError, ValueError) as error:
                found[account.id] = f"account {account.address}: {error}"
    return found


def server_limits(server: MailServer) -> ProviderLimits:
    """#17: the server's preset with its own values (common/provider_limits.py)."""
    return effective_limits(server.limits_preset, {name: getattr(server, name) for name in LIMIT_FIELDS})


def _imap(server: MailServer) -> Endpoint:
    return incoming_endpoint(
        server.incoming_host, server.incoming_protocol, server.incoming_tls, server.incoming_tls_mode
    )


def _target(server: MailServer, account: MailAccount, secrets: SecretBox) -> SmtpTarget:
    endpoint = parse_host_port(server.smtp_host)
    encryption = SmtpEncryption(server.smtp_encryption)
    password = secrets.decrypt(account.password_encrypted) if account.password_encrypted else None
    return SmtpTarget(
        host=endpoint.host, port=smtp_port(endpoint, encryption), encryption=encryption.value,
        auth=server.smtp_auth, login=account.login, password=password, account_id=account.id,
        limits=server_limits(server),
        oauth=server.oauth_provider_id is not None, allow_plaintext_auth=server.allow_plaintext_auth,
    )  # fmt: skip
