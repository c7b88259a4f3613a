"""schemathesis against the running system's OpenAPI document: no 5xx, responses match schemas."""

from typing import Any

import httpx
import pytest
import schemathesis
from e2e_system import RunningSystem
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="session")
def api_schema(system: RunningSystem) -> Any:
    headers = {"Authorization": f"Bearer {system.admin_key()}"}
    with httpx.Client(base_url=f"{system.base_url}/api/v1", headers=headers) as client:
        # Some real objects, so that generated references sometimes hit one.
        client.post("/business-units", json={"name": "Fuzz unit"})
        client.post("/users", json={"name": "Fuzz user", "email": "fuzz@example.com"})
    return schemathesis.openapi.from_url(f"{system.base_url}/openapi.json")


def _operation_ids(schema: Any) -> list[str]:
    return [result.ok().label for result in schema.get_all_operations()]


def test_every_operation_never_fails_and_matches_its_schema(api_schema: Any, system: RunningSystem) -> None:
    """Each operation gets its own generated cases; a failure names the operation."""
    headers = {"Authorization": f"Bearer {system.admin_key()}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30, _operation_ids(api_schema)

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(base_url=system.base_url, headers=headers, checks=CHECKS)

        check()
