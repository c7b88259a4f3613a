"""Schema pieces every resource shares: the versioned object envelope and the patch base."""

import uuid
from datetime import datetime
from typing import Any, Optional

from mailbridge.config_api.fields import refuse_nul
from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model, field_validator


class RequestModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped; no string holds NUL."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def strings_without_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


def example(**fields: JsonValue) -> ConfigDict:
    """A request body's example (`model_config = example(...)`): the OpenAPI document shows it and
    Swagger UI's "Try it out" starts from it. The first field is also its PATCH body's example."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


def examples_of(model: type[BaseModel]) -> list[dict[str, JsonValue]]:
    extra = model.model_config.get("json_schema_extra")
    found = extra.get("examples", []) if isinstance(extra, dict) else []
    return [value for value in found if isinstance(value, dict)] if isinstance(found, list) else []


class ResourceOut(BaseModel):
    """Every object has an id, a version (also its ETag) and timestamps."""

    id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime


def patch_of(model: type[BaseModel]) -> type[BaseModel]:
    """The PATCH body of a resource: every field of `model`, optional.

    Field rules are not repeated here: the patch is merged into the current state and the result
    is validated against `model` as a whole, so every rule runs exactly once.
    """
    fields: dict[str, Any] = {
        name: (Optional[field.annotation], Field(default=None, description=field.description))  # noqa: UP045 (a runtime type, not an annotation)
        for name, field in model.model_fields.items()
    }
    changes = [dict(list(full.items())[:1]) for full in examples_of(model)]  # one field changed
    return create_model(
        model.__name__.removesuffix("In") + "Patch",
        __base__=RequestModel,
        __cls_kwargs__={"json_schema_extra": {"examples": changes}} if changes else None,
        **fields,
    )
