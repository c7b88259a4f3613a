"""Group request and response bodies."""

import uuid
from typing import Annotated

from mailbridge.config_api.fields import Name
from mailbridge.config_api.schemas import RequestModel, ResourceOut, example, patch_of
from pydantic import Field

MAX_MEMBERS = 10_000


class GroupIn(RequestModel):
    model_config = example(name="Support team", member_ids=["0196a1c2-8e4f-7c33-9e12-6b8d3f0a1c24"])
    name: Name
    member_ids: Annotated[list[uuid.UUID], Field(max_length=MAX_MEMBERS)] = []


class GroupOut(ResourceOut):
    name: str
    member_ids: list[uuid.UUID]


GroupPatch = patch_of(GroupIn)
