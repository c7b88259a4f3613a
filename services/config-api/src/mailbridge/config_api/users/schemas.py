"""User request and response bodies."""

import uuid

from mailbridge.config_api.fields import Email, Name
from mailbridge.config_api.schemas import RequestModel, ResourceOut, patch_of


class UserIn(RequestModel):
    name: Name
    email: Email
    business_unit_id: uuid.UUID | None = None


class UserOut(ResourceOut):
    name: str
    email: str
    business_unit_id: uuid.UUID | None


UserPatch = patch_of(UserIn)
