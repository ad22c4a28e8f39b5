"""Schema-driven fuzzing: requests generated from the app's own OpenAPI document,
mostly malformed, never get a 5xx, and every answer conforms to the document."""

from __future__ import annotations

import asyncio

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_helpers import create, registered
from tests.fixtures_api import ApiHandle

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 40


def fuzz(base_url: str, token: str, real_dossier: str) -> None:
    """Sync (Hypothesis); run in a thread so the test's event loop keeps the worker going."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy()
        if "{dossier_id}" in operation.path:
            # Half the cases aim at a real dossier, so the workflow path is fuzzed too.
            strategy = strategy.map(
                lambda case: _aimed(case, real_dossier) if hash(repr(case.body)) % 2 else case
            )

        @given(case=strategy)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=base_url, headers=headers, timeout=60)
            case.validate_response(response, checks=CHECKS)

        check()


def _aimed(case, dossier_id: str):  # type: ignore[no-untyped-def]
    case.path_parameters = {**(case.path_parameters or {}), "dossier_id": dossier_id}
    return case


async def test_malformed_requests_never_get_a_server_error(api: ApiHandle) -> None:
    async with api.client("gestionnaire") as client:
        dossier_id = await create(client)
        await registered(client, dossier_id)
    await asyncio.to_thread(fuzz, api.base_url, api.token("gestionnaire"), dossier_id)
