"""Mail account rules: known owner, server and business unit; IMAP folders only on IMAP servers
(A11); a password only where the server does not use OAuth (A3), encrypted at rest."""

from typing import Any

from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import (
    BusinessUnit,
    Group,
    GroupMember,
    MailAccount,
    MailServer,
    User,
)
from mailbridge.common.endpoints import IncomingProtocol
from mailbridge.config_api.api_keys import Principal
from mailbridge.config_api.credential_tests.runs import last_report
from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.health.assessment import account_health
from mailbridge.config_api.mail_accounts.schemas import (
    MailAccountIn,
    MailAccountOut,
    MailAccountPatch,
    OAuthStatus,
    Owner,
)
from mailbridge.config_api.resource import Blockers, Ctx, ResourceService
from mailbridge.config_api.store import missing_reference
from sqlalchemy import ColumnElement, or_, select

PASSWORD = "password"
IMAP_FOLDERS = ("inbox_folder", "trash_folder", "spam_folder")


def owned_by(owner: Owner) -> ColumnElement[bool]:
    if owner.type == "user":
        return MailAccount.owner_user_id == owner.id
    return MailAccount.owner_group_id == owner.id


def server_problems(data: MailAccountIn, server: MailServer) -> list[FieldProblem | None]:
    """A11: folder overrides need an IMAP server; A3: OAuth servers take no password."""
    problems: list[FieldProblem | None] = []
    if server.incoming_protocol == IncomingProtocol.POP3:
        problems += [
            FieldProblem(name, "A11", f"{name} applies to IMAP accounts only, the server is POP3")
            for name in IMAP_FOLDERS
            if getattr(data, name) is not None
        ]
        if data.sync_folders:
            problems.append(FieldProblem("sync_folders", "A11", "only IMAP servers have folders"))
    if server.oauth_provider_id is not None and data.password is not None:
        problems.append(FieldProblem(PASSWORD, "A3", "the server uses OAuth: connect the account instead"))
    return problems


class MailAccounts(ResourceService[MailAccount, MailAccountIn, MailAccountOut]):
    what = "mail account"
    model = MailAccount
    in_model = MailAccountIn
    patch_model = MailAccountPatch
    out_model = MailAccountOut
    write_only = frozenset({PASSWORD, "owner"})

    async def current_input(self, ctx: Ctx, row: MailAccount) -> dict[str, Any]:
        return await super().current_input(ctx, row) | {"owner": _owner(row), PASSWORD: None}

    async def problems(
        self, ctx: Ctx, data: MailAccountIn, row: MailAccount | None
    ) -> list[FieldProblem | None]:
        owner_model = User if data.owner.type == "user" else Group
        server = await ctx.session.get(MailServer, data.server_id)
        return [
            await missing_reference(ctx.session, owner_model, data.owner.id, "owner.id", data.owner.type),
            None
            if server
            else FieldProblem("server_id", "reference", f"mail server {data.server_id} does not exist"),
            await missing_reference(
                ctx.session,
                BusinessUnit,
                data.business_unit_id,
                "business_unit_id",
                "business unit",
            ),
            *(server_problems(data, server) if server else []),
        ]

    async def write(self, ctx: Ctx, row: MailAccount, data: MailAccountIn, given: set[str]) -> None:
        await super().write(ctx, row, data, given)
        row.owner_user_id = data.owner.id if data.owner.type == "user" else None
        row.owner_group_id = data.owner.id if data.owner.type == "group" else None
        if PASSWORD in given:
            row.password_encrypted = ctx.secrets.encrypt(data.password) if data.password else None

    async def render(self, ctx: Ctx, row: MailAccount) -> MailAccountOut:
        server = await ctx.session.get(MailServer, row.server_id)
        uses_oauth = server is not None and server.oauth_provider_id is not None
        fields = {name: getattr(row, name) for name in MailAccountOut.model_fields if hasattr(row, name)}
        return MailAccountOut.model_validate(
            fields
            | {
                "owner": _owner(row),
                "has_password": row.password_encrypted is not None,
                "oauth_status": OAuthStatus(row.oauth_state) if uses_oauth else OAuthStatus.NOT_REQUIRED,
                "oauth_reason": row.oauth_reason if uses_oauth else None,
                "last_test": await last_report(ctx.session, row.id),
                "health": await account_health(ctx.session, row, uses_oauth),
            }
        )

    async def blockers(self, ctx: Ctx, row: MailAccount) -> Blockers | None:
        """Mail in the outbox keeps its account: sent mail may be locked for audit (G6)."""
        statement = select(OutboxMessage.id).where(OutboxMessage.account_id == row.id).limit(50)
        outbox = list(await ctx.session.scalars(statement))
        return Blockers("outbox messages", outbox) if outbox else None

    def visible_to(self, principal: Principal) -> ColumnElement[bool] | None:
        """A user key sees the user's own accounts and those of the user's groups."""
        if principal.is_admin:
            return None
        groups = select(GroupMember.group_id).where(GroupMember.user_id == principal.user_id)
        return or_(MailAccount.owner_user_id == principal.user_id, MailAccount.owner_group_id.in_(groups))


def _owner(row: MailAccount) -> Owner:
    if row.owner_user_id is not None:
        return Owner(type="user", id=row.owner_user_id)
    assert row.owner_group_id is not None
    return Owner(type="group", id=row.owner_group_id)


async def owner_visible(ctx: Ctx, owner: Owner) -> bool:
    """The owner exists and the caller may see its accounts (admin, the user, a member)."""
    model = User if owner.type == "user" else Group
    if await ctx.session.get(model, owner.id) is None:
        return False
    principal = ctx.principal
    if principal.is_admin:
        return True
    if owner.type == "user":
        return owner.id == principal.user_id
    membership = await ctx.session.get(GroupMember, (owner.id, principal.user_id))
    return membership is not None
