"""Group rules: unique name, known members; not deletable while owning accounts."""

import uuid
from typing import Any

from mailbridge.common.db.tables import Group, GroupMember, MailAccount, User
from mailbridge.common.db.types import utcnow
from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.groups.schemas import GroupIn, GroupOut, GroupPatch
from mailbridge.config_api.resource import Blockers, Ctx, ResourceService
from mailbridge.config_api.store import duplicate
from sqlalchemy import delete, select


async def member_ids(ctx: Ctx, group_id: uuid.UUID) -> list[uuid.UUID]:
    statement = select(GroupMember.user_id).where(GroupMember.group_id == group_id)
    return list(await ctx.session.scalars(statement.order_by(GroupMember.user_id)))


class Groups(ResourceService[Group, GroupIn, GroupOut]):
    what = "group"
    model = Group
    in_model = GroupIn
    patch_model = GroupPatch
    out_model = GroupOut

    async def current_input(self, ctx: Ctx, row: Group) -> dict[str, Any]:
        return {"name": row.name, "member_ids": await member_ids(ctx, row.id)}

    async def problems(self, ctx: Ctx, data: GroupIn, row: Group | None) -> list[FieldProblem | None]:
        wanted = set(data.member_ids)
        known = set(await ctx.session.scalars(select(User.id).where(User.id.in_(wanted))))
        unknown = sorted(str(i) for i in wanted - known)
        return [
            await duplicate(ctx.session, Group.name, data.name, row.id if row else None, "name"),
            FieldProblem("member_ids", "reference", f"unknown users: {', '.join(unknown)}")
            if unknown
            else None,
        ]

    async def write(self, ctx: Ctx, row: Group, data: GroupIn, given: set[str]) -> None:
        row.name = data.name
        if row.id is None:
            ctx.session.add(row)
        else:
            row.updated_at = utcnow()  # a membership change is a new version of the group
        await ctx.session.flush()
        await ctx.session.execute(delete(GroupMember).where(GroupMember.group_id == row.id))
        ctx.session.add_all(GroupMember(group_id=row.id, user_id=u) for u in set(data.member_ids))

    async def render(self, ctx: Ctx, row: Group) -> GroupOut:
        return GroupOut(
            id=row.id,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            name=row.name,
            member_ids=await member_ids(ctx, row.id),
        )

    async def blockers(self, ctx: Ctx, row: Group) -> Blockers | None:
        owned = list(
            await ctx.session.scalars(select(MailAccount.id).where(MailAccount.owner_group_id == row.id))
        )
        return Blockers("the mail accounts it owns", owned) if owned else None
