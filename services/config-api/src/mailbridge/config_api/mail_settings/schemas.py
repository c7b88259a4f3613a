"""Mail settings request and response bodies."""

from typing import Annotated

from mailbridge.config_api.fields import in_range
from mailbridge.config_api.schemas import RequestModel, ResourceOut, example, patch_of
from pydantic import Field

Minutes = Annotated[int, in_range("G2", 1, 10_080), Field(description="null: no automatic fetch (G2)")]


class MailSettingsIn(RequestModel):
    model_config = example(fetch_interval_minutes=5, users_can_reload=True, lock_after_send=False)
    hide_mailbox: bool = False
    fetch_interval_minutes: Minutes | None = 15
    show_outbox_folder: bool = True
    disallow_manual_fetch: bool = False
    users_can_reload: bool = False
    lock_after_send: bool = False
    webhooks_allow_private_targets: bool = Field(
        default=False, description="webhook targets on loopback or private ranges (#18); never link-local"
    )


class MailSettingsOut(ResourceOut):
    hide_mailbox: bool
    fetch_interval_minutes: int | None
    show_outbox_folder: bool
    disallow_manual_fetch: bool
    users_can_reload: bool
    lock_after_send: bool
    webhooks_allow_private_targets: bool


MailSettingsPatch = patch_of(MailSettingsIn)
