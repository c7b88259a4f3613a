"""Routes: GET and PUT /mail-accounts/{id}/out-of-office (A12)."""

import uuid

from fastapi import APIRouter
from mailbridge.config_api.deps import CtxDep
from mailbridge.config_api.out_of_office import service
from mailbridge.config_api.out_of_office.schemas import OutOfOfficeIn, OutOfOfficeOut
from mailbridge.config_api.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["out-of-office"], responses=PROBLEM_RESPONSES)


@router.get("/mail-accounts/{account_id}/out-of-office", operation_id="get_out_of_office")
async def get_out_of_office(ctx: CtxDep, account_id: uuid.UUID) -> OutOfOfficeOut:
    """The account's out-of-office; never set: disabled, subject "Out of office", an empty body,
    no period, 7 days between replies to one sender, `updated_at` null."""
    return await service.read(ctx, account_id)


@router.put("/mail-accounts/{account_id}/out-of-office", operation_id="set_out_of_office")
async def set_out_of_office(ctx: CtxDep, account_id: uuid.UUID, body: OutOfOfficeIn) -> OutOfOfficeOut:
    """Replace the account's out-of-office: 403 unless the account's `can_set_out_of_office` is on
    (A12); a user key only for its own accounts and its groups' (404 otherwise)."""
    return await service.save(ctx, account_id, body)
