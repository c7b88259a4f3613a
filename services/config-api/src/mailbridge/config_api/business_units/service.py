"""Business unit rules: unique name; cannot be deleted while users, accounts or webhooks use it."""

from mailbridge.common.db.tables import BusinessUnit, MailAccount, User
from mailbridge.common.db.webhooks import WebhookEndpoint
from mailbridge.config_api.business_units.schemas import (
    BusinessUnitIn,
    BusinessUnitOut,
    BusinessUnitPatch,
)
from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.resource import Blockers, Ctx, ResourceService
from mailbridge.config_api.store import duplicate
from sqlalchemy import select


class BusinessUnits(ResourceService[BusinessUnit, BusinessUnitIn, BusinessUnitOut]):
    what = "business unit"
    model = BusinessUnit
    in_model = BusinessUnitIn
    patch_model = BusinessUnitPatch
    out_model = BusinessUnitOut

    async def problems(
        self, ctx: Ctx, data: BusinessUnitIn, row: BusinessUnit | None
    ) -> list[FieldProblem | None]:
        current = row.id if row else None
        return [await duplicate(ctx.session, BusinessUnit.name, data.name, current, "name")]

    async def blockers(self, ctx: Ctx, row: BusinessUnit) -> Blockers | None:
        users = await ctx.session.scalars(select(User.id).where(User.business_unit_id == row.id))
        accounts = await ctx.session.scalars(
            select(MailAccount.id).where(MailAccount.business_unit_id == row.id)
        )
        webhooks = await ctx.session.scalars(
            select(WebhookEndpoint.id).where(WebhookEndpoint.business_unit_id == row.id)
        )
        ids = [*users, *accounts, *webhooks]
        return Blockers("users, mail accounts or webhooks", ids) if ids else None
