"""Property-based fuzzing of the whole admin API from its own OpenAPI document.

Schemathesis generates requests for every operation, valid ones (positive) and ones that
break the document (negative), sends them to the real app authenticated as an operator
(who may reach every operation), and checks that no answer is a 5xx and every answer
conforms to the document: a documented status, the documented media type, a body
matching its schema, and invalid input refused with a 4xx.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from admin.api.openapi import document
from tests.admin_kit import ISSUER, ApiWorld

pytestmark = pytest.mark.slow

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
NEGATIVE_CHECKS = [*CHECKS, openapi_checks.negative_data_rejection]
LABELS = sorted(
    f"{method.upper()} {path}"
    for path, item in document(ISSUER)["paths"].items()
    for method in item
)


def test_the_document_is_valid_openapi_3_1(api: ApiWorld) -> None:
    served = api.client.get("/api/v1/openapi.json").get_json()
    assert served["openapi"] == "3.1.0"
    validate(served)


def _operation(api: ApiWorld, label: str) -> Any:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api.app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    return operation


CASES = [
    pytest.param(label, mode, id=f"{label}-{mode.value}")
    for label in LABELS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # The public document takes no input at all: there is nothing to make invalid.
    if not (label == "GET /openapi.json" and mode is GenerationMode.NEGATIVE)
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_every_operation_answers_as_documented(
    api: ApiWorld, label: str, mode: GenerationMode
) -> None:
    operation = _operation(api, label)
    headers = {"Authorization": f"Bearer {api.token('ops')}"}
    checks = NEGATIVE_CHECKS if mode is GenerationMode.NEGATIVE else CHECKS

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        # A negative case whose only fault may be the missing Authorization header is
        # sent without our token: the API must refuse it (401) like any other.
        meta = case.meta
        negated = {
            location.name.lower()
            for location, info in (meta.components.items() if meta else ())
            if info.mode.is_negative
        }
        unauthenticated = "header" in negated and "authorization" not in {
            name.lower() for name in (case.headers or {})
        }
        case.call_and_validate(headers=None if unauthenticated else headers, checks=checks)

    run()
