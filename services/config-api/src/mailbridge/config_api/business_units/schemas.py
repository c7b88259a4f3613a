"""Business unit request and response bodies."""

from mailbridge.config_api.fields import Name
from mailbridge.config_api.schemas import RequestModel, ResourceOut, example, patch_of


class BusinessUnitIn(RequestModel):
    model_config = example(name="Sales")
    name: Name


class BusinessUnitOut(ResourceOut):
    name: str


BusinessUnitPatch = patch_of(BusinessUnitIn)
