"""User request and response bodies."""

import uuid

from mailbridge.config_api.fields import Email, Name
from mailbridge.config_api.schemas import RequestModel, ResourceOut, example, patch_of


class UserIn(RequestModel):
    model_config = example(
        name="Anna Berger",
        email="anna.berger@example.com",
        business_unit_id="0196a1c2-7d3e-7b22-8d01-5a7c2e9f0b13",
    )
    name: Name
    email: Email
    business_unit_id: uuid.UUID | None = None


class UserOut(ResourceOut):
    name: str
    email: str
    business_unit_id: uuid.UUID | None


UserPatch = patch_of(UserIn)
