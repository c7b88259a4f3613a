"""Routes of /webhooks (#18): the five standard ones, and the actions: rotate the secret, read the
delivery log, resend a delivery. Admin keys only."""

import uuid

from fastapi import APIRouter
from mailbridge.config_api import crud
from mailbridge.config_api.deps import AdminDep, CtxDep
from mailbridge.config_api.paging import Page
from mailbridge.config_api.problems import PROBLEM_RESPONSES
from mailbridge.config_api.router_factory import PageDep, crud_router
from mailbridge.config_api.store import commit
from mailbridge.config_api.webhooks import log
from mailbridge.config_api.webhooks.schemas import DeliveryOut, SecretRotated
from mailbridge.config_api.webhooks.service import Webhooks, rotate_secret

webhooks = Webhooks()
router = crud_router(webhooks, "/webhooks", "webhook")
actions = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)


@actions.post("/{webhook_id}/rotate-secret", operation_id="rotate_webhook_secret")
async def rotate(ctx: CtxDep, _: AdminDep, webhook_id: uuid.UUID) -> SecretRotated:
    """A new `whsec_…` secret, shown once; deliveries carry a signature with each of the new and
    the previous secret for 24 hours (receivers switch over meanwhile), then with the new one."""
    row = await crud.get_row(webhooks, ctx, webhook_id)
    secret, until = rotate_secret(ctx, row)
    await commit(ctx.session)
    return SecretRotated(secret=secret, previous_secret_until=until)


@actions.get("/{webhook_id}/deliveries", operation_id="list_webhook_deliveries")
async def deliveries(ctx: CtxDep, _: AdminDep, webhook_id: uuid.UUID, page: PageDep) -> Page[DeliveryOut]:
    """The delivery log, oldest first: each delivery's status and its attempts (outcome, response
    code, duration)."""
    await crud.get_row(webhooks, ctx, webhook_id)
    items, cursor = await log.page_of_deliveries(ctx.session, webhook_id, page)
    return Page(items=items, next_cursor=cursor)


@actions.post(
    "/{webhook_id}/deliveries/{delivery_id}/resend", status_code=202, operation_id="resend_webhook_delivery"
)
async def resend(ctx: CtxDep, _: AdminDep, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryOut:
    """Deliver again, under the same `webhook-id`, with a fresh retry schedule (202: queued)."""
    await crud.get_row(webhooks, ctx, webhook_id)
    return await log.resend(ctx.session, webhook_id, delivery_id)
