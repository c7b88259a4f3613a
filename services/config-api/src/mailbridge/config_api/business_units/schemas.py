"""Business unit request and response bodies."""

from mailbridge.config_api.fields import Name
from mailbridge.config_api.schemas import RequestModel, ResourceOut, patch_of


class BusinessUnitIn(RequestModel):
    name: Name


class BusinessUnitOut(ResourceOut):
    name: str


BusinessUnitPatch = patch_of(BusinessUnitIn)
