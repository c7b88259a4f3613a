"""Group request and response bodies."""

import uuid
from typing import Annotated

from mailbridge.config_api.fields import Name
from mailbridge.config_api.schemas import RequestModel, ResourceOut, patch_of
from pydantic import Field

MAX_MEMBERS = 10_000


class GroupIn(RequestModel):
    name: Name
    member_ids: Annotated[list[uuid.UUID], Field(max_length=MAX_MEMBERS)] = []


class GroupOut(ResourceOut):
    name: str
    member_ids: list[uuid.UUID]


GroupPatch = patch_of(GroupIn)
