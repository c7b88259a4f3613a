"""Routes listing one owner's accounts: /users/{id}/mail-accounts, /groups/{id}/mail-accounts."""

import uuid
from typing import Literal

from fastapi import APIRouter
from mailbridge.config_api import crud
from mailbridge.config_api.deps import CtxDep
from mailbridge.config_api.errors import NotFound
from mailbridge.config_api.mail_accounts.schemas import MailAccountOut, Owner
from mailbridge.config_api.mail_accounts.service import MailAccounts, owned_by, owner_visible
from mailbridge.config_api.paging import Page
from mailbridge.config_api.problems import PROBLEM_RESPONSES
from mailbridge.config_api.router_factory import PageDep

router = APIRouter(tags=["mail accounts"], responses=PROBLEM_RESPONSES)
accounts = MailAccounts()


async def _owned_page(
    ctx: CtxDep, kind: Literal["user", "group"], owner_id: uuid.UUID, page: PageDep
) -> Page[MailAccountOut]:
    owner = Owner(type=kind, id=owner_id)
    if not await owner_visible(ctx, owner):
        raise NotFound(f"{kind} {owner_id} does not exist")
    rows, cursor = await crud.list_rows(accounts, ctx, page, owned_by(owner))
    return Page(items=[await accounts.render(ctx, row) for row in rows], next_cursor=cursor)


@router.get("/users/{user_id}/mail-accounts", operation_id="list_user_mail_accounts")
async def list_user_accounts(ctx: CtxDep, user_id: uuid.UUID, page: PageDep) -> Page[MailAccountOut]:
    return await _owned_page(ctx, "user", user_id, page)


@router.get("/groups/{group_id}/mail-accounts", operation_id="list_group_mail_accounts")
async def list_group_accounts(ctx: CtxDep, group_id: uuid.UUID, page: PageDep) -> Page[MailAccountOut]:
    return await _owned_page(ctx, "group", group_id, page)
