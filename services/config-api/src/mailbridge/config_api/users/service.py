"""User rules: unique e-mail, known business unit; not deletable while owning accounts."""

from mailbridge.common.db.tables import BusinessUnit, MailAccount, User
from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.resource import Blockers, Ctx, ResourceService
from mailbridge.config_api.store import duplicate, missing_reference
from mailbridge.config_api.users.schemas import UserIn, UserOut, UserPatch
from sqlalchemy import select


class Users(ResourceService[User, UserIn, UserOut]):
    what = "user"
    model = User
    in_model = UserIn
    patch_model = UserPatch
    out_model = UserOut

    async def problems(self, ctx: Ctx, data: UserIn, row: User | None) -> list[FieldProblem | None]:
        current = row.id if row else None
        return [
            await duplicate(ctx.session, User.email, data.email, current, "email"),
            await missing_reference(
                ctx.session,
                BusinessUnit,
                data.business_unit_id,
                "business_unit_id",
                "business unit",
            ),
        ]

    async def blockers(self, ctx: Ctx, row: User) -> Blockers | None:
        owned = list(
            await ctx.session.scalars(select(MailAccount.id).where(MailAccount.owner_user_id == row.id))
        )
        return Blockers("the mail accounts it owns", owned) if owned else None
