"""Mail server rules: unique name, protocol-specific fields, known OAuth provider; the effective
ports and transport security are computed by `mailbridge.common.endpoints`."""

from mailbridge.common.db.tables import MailAccount, MailServer, OAuthProvider
from mailbridge.common.endpoints import (
    IncomingProtocol,
    SmtpEncryption,
    incoming_endpoint,
    parse_host_port,
    smtp_port,
)
from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.mail_servers.limits import limits_of
from mailbridge.config_api.mail_servers.rules import plaintext_auth_problem, protocol_problems
from mailbridge.config_api.mail_servers.schemas import MailServerIn, MailServerOut, MailServerPatch
from mailbridge.config_api.resource import Blockers, Ctx, ResourceService
from mailbridge.config_api.store import duplicate, missing_reference
from sqlalchemy import select


class MailServers(ResourceService[MailServer, MailServerIn, MailServerOut]):
    what = "mail server"
    model = MailServer
    in_model = MailServerIn
    patch_model = MailServerPatch
    out_model = MailServerOut

    async def problems(
        self, ctx: Ctx, data: MailServerIn, row: MailServer | None
    ) -> list[FieldProblem | None]:
        return [
            await duplicate(ctx.session, MailServer.name, data.name, row.id if row else None, "name", "S1"),
            await missing_reference(
                ctx.session,
                OAuthProvider,
                data.oauth_provider_id,
                "oauth_provider_id",
                "OAuth provider",
            ),
            *protocol_problems(data),
            plaintext_auth_problem(data),
            await self._accounts_with_imap_folders(ctx, data, row),
        ]

    async def _accounts_with_imap_folders(
        self, ctx: Ctx, data: MailServerIn, row: MailServer | None
    ) -> FieldProblem | None:
        """A11: a server cannot become POP3 while its accounts override IMAP folders."""
        if row is None or data.incoming_protocol is not IncomingProtocol.POP3:
            return None
        accounts = await ctx.session.scalars(select(MailAccount).where(MailAccount.server_id == row.id))
        ids = [
            account.id
            for account in accounts
            if account.sync_folders or any((account.inbox_folder, account.trash_folder, account.spam_folder))
        ]
        if not ids:
            return None
        listed = ", ".join(str(i) for i in ids)
        return FieldProblem("incoming_protocol", "A11", f"accounts with IMAP folders use it: {listed}")

    async def render(self, ctx: Ctx, row: MailServer) -> MailServerOut:
        incoming = incoming_endpoint(
            row.incoming_host, row.incoming_protocol, row.incoming_tls, row.incoming_tls_mode
        )
        fields = {name: getattr(row, name) for name in MailServerOut.model_fields if hasattr(row, name)}
        return MailServerOut.model_validate(
            fields
            | {
                "smtp_port": smtp_port(parse_host_port(row.smtp_host), SmtpEncryption(row.smtp_encryption)),
                "incoming_port": incoming.port,
                "incoming_security": incoming.security,
                "effective_limits": limits_of(row),
            }
        )

    async def blockers(self, ctx: Ctx, row: MailServer) -> Blockers | None:
        accounts = list(
            await ctx.session.scalars(select(MailAccount.id).where(MailAccount.server_id == row.id))
        )
        return Blockers("mail accounts", accounts) if accounts else None
