"""Webhook rules (#18): a target that may receive webhooks (checked here at registration, again at
every delivery), a known business unit, the signing secret made on create and shown once."""

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mailbridge.common.db.tables import BusinessUnit
from mailbridge.common.db.webhooks import WebhookEndpoint
from mailbridge.common.ids import new_id
from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.mail_settings.service import load_settings
from mailbridge.config_api.resource import Ctx, ResourceService
from mailbridge.config_api.store import missing_reference
from mailbridge.config_api.webhooks.schemas import WebhookIn, WebhookOut, WebhookPatch
from mailbridge.config_api.webhooks.signing import new_secret
from mailbridge.config_api.webhooks.targets import TargetRefused, check_address, literal_address, parse_target

ROTATION_OVERLAP = timedelta(hours=24)
RESOLVE_TIMEOUT_S = 5.0


async def check_target(url: str, allow_private: bool) -> None:
    """TargetRefused unless `url` and every address its host resolves to may receive webhooks."""
    parts = parse_target(url)
    assert parts.hostname is not None
    literal = literal_address(parts.hostname)
    if literal is not None:
        check_address(literal, allow_private)
        return
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            found = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, parts.port, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError, UnicodeError) as error:  # UnicodeError: a name IDNA refuses
        raise TargetRefused(f"{parts.hostname} does not resolve: {error}") from error
    for *_, sockaddr in found:
        address = literal_address(str(sockaddr[0]).split("%")[0])
        if address is None:
            raise TargetRefused(f"{parts.hostname} resolved to {sockaddr[0]}, not an address")
        check_address(address, allow_private)


class Webhooks(ResourceService[WebhookEndpoint, WebhookIn, WebhookOut]):
    what = "webhook"
    model = WebhookEndpoint
    in_model = WebhookIn
    patch_model = WebhookPatch
    out_model = WebhookOut

    def __init__(self) -> None:
        self._shown_once: dict[uuid.UUID, str] = {}  # a created endpoint's secret, until rendered

    async def problems(
        self, ctx: Ctx, data: WebhookIn, row: WebhookEndpoint | None
    ) -> list[FieldProblem | None]:
        target: FieldProblem | None = None
        if row is None or data.url != row.url:
            allow_private = (await load_settings(ctx.session)).webhooks_allow_private_targets
            try:
                await check_target(data.url, allow_private)
            except TargetRefused as error:
                target = FieldProblem("url", "target", str(error))
        unit = await missing_reference(
            ctx.session, BusinessUnit, data.business_unit_id, "business_unit_id", "business unit"
        )
        return [target, unit]

    async def write(self, ctx: Ctx, row: WebhookEndpoint, data: WebhookIn, given: set[str]) -> None:
        for name, value in data.model_dump().items():
            setattr(row, name, value)
        if data.enabled:
            row.disabled_reason = None
        if row.id is None:  # created: the one moment the secret is shown
            row.id = new_id()
            secret = new_secret()
            row.secret_encrypted = ctx.secrets.encrypt(secret)
            self._shown_once[row.id] = secret

    async def current_input(self, ctx: Ctx, row: WebhookEndpoint) -> dict[str, Any]:
        return {name: getattr(row, name) for name in WebhookIn.model_fields}

    async def render(self, ctx: Ctx, row: WebhookEndpoint) -> WebhookOut:
        shown = WebhookOut.model_validate(row, from_attributes=True)
        secret = self._shown_once.pop(row.id, None)
        return shown if secret is None else shown.model_copy(update={"secret": secret})


def rotate_secret(ctx: Ctx, row: WebhookEndpoint, now: datetime | None = None) -> tuple[str, datetime]:
    """A new secret for `row`; the current one stays valid (signed with too) for a day."""
    until = (now or datetime.now(UTC)) + ROTATION_OVERLAP
    secret = new_secret()
    row.previous_secret_encrypted, row.previous_secret_until = row.secret_encrypted, until
    row.secret_encrypted = ctx.secrets.encrypt(secret)
    return secret, until
