"""Property tests of the API against docs/openapi.json: schemathesis draws requests, the local stack answers.

Schemathesis generates valid (positive) and invalid (negative) requests for every documented operation, plus its
coverage cases (boundaries, missing fields, wrong types, undeclared methods), and checks each answer: no 5xx, the
status is documented, the body matches the documented schema, valid data is accepted, invalid data is refused.
The document lists the categories the served model was trained on as enums, so that "valid" means "answered
200".

The bugs this test found (now fixed) each keep a regression test at the end: no 200 documented and errors typed
as successes, a text/plain or non-UTF-8 body answered 500, numbers large enough to overflow the model, and
numeric strings accepted that the published patterns refuse.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    CheckContext,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure
from schemathesis.core.transport import Response

from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.event_files import reference_payload
from tests.integration.conftest import Stack, send

OPENAPI = PROJECT_ROOT / "docs" / "openapi.json"
# Fuzzed examples per operation. The coverage phase adds its own deterministic cases (about 230 per POST route);
# all four operations together send about 600 requests, in under 20 s on 2 cores.
MAX_EXAMPLES = 60
# Methods a REST API accepts at all. API Gateway answers one that a resource does not declare with 403
# {"message": "Missing Authentication Token"}, never 405 (a long-standing REST API behaviour, e.g.
# https://tyhopp.com/notes/aws-api-gateway-gotchas). OPTIONS is the CORS preflight's, tested by the Postman run.
GATEWAY_METHODS = {"get", "put", "post", "delete", "patch"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]
ERROR_STATUSES = ("400", "413", "415", "500", "502", "503", "504")
# Per route: the error statuses the function answers with its error body. Readiness answers 503 with its report;
# on /predict only API Gateway answers 413 (with its own body, like its 401, 403 and 429).
SERVED_ERRORS = {
    "/predict": tuple(s for s in ERROR_STATUSES if s != "413"),
    "/predict/batch": ERROR_STATUSES,
    "/health/ready": (),
}


def known_categories(artifacts: Path) -> dict[str, list[Any]]:
    """Return, per categorical field, the categories the served transformation was fitted on."""
    with (artifacts / "transformation.sav").open("rb") as f:
        saved = pickle.load(f)  # noqa: S301 - the artifact this session trained
    return {
        column: [c.item() if hasattr(c, "item") else c for c in categories]
        for column, categories in zip(saved["obj_cols"], saved["One_Hot"].categories_, strict=True)
    }


def customer_schemas(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the Customer schema and the copy the batch request inlines."""
    schemas = document["components"]["schemas"]
    return [schemas["Customer"], schemas["BatchRequest"]["properties"]["customers"]["items"]]


def describes_an_error_body(document: dict[str, Any], response: dict[str, Any]) -> bool:
    """Tell whether a documented response's JSON schema (following one $ref) has the error body's `error` key."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    # A status API Gateway answers too (413 on the batch route) documents either body.
    for alternative in schema.get("anyOf", [schema]):
        if "$ref" in alternative:
            alternative = document["components"]["schemas"][alternative["$ref"].rsplit("/", 1)[1]]
        if "error" in alternative.get("properties", {}):
            return True
    return False


@pytest.fixture(scope="module")
def api_schema(stack: Stack, trained_artifacts: Path) -> Any:
    """Load docs/openapi.json, which lists the served model's categories, pointed at the running stack."""
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    # The published document states the served model's categories itself, so "valid" already means "scorable".
    served = known_categories(trained_artifacts)
    assert {field: customer_schemas(document)[0]["properties"][field]["anyOf"][0]["enum"] for field in served} == served
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=stack.api_url)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        # The same requests on every run, so that a failure reproduces.
        deterministic=True,
        database="none",
    )
    schema.config.phases.coverage.unexpected_methods = GATEWAY_METHODS
    # The API answers valid data with 200 only, and refuses invalid data with 400 (413 for too many customers).
    schema.config.checks.positive_data_acceptance.expected_statuses = ["200"]
    schema.config.checks.negative_data_rejection.expected_statuses = ["400", "413", "415"]
    return schema


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's from_fixture reads and writes Node._nodeid, which pytest 9.2 replaced; give it one.
    request.node._nodeid = request.node.nodeid


def undeclared_method_is_answered_like_api_gateway(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Require API Gateway's own 403 for a method the document does not declare on a path."""
    method = (response.request.method or "").lower()
    if method not in GATEWAY_METHODS or method == case.operation.method.lower():
        return None
    if response.status_code != 403 or response.json() != {"message": "Missing Authentication Token"}:
        raise Failure(
            operation=case.operation.label,
            title="Undeclared method not answered like API Gateway",
            message=f"{method.upper()} {case.path} answered {response.status_code}: {response.text[:200]}",
        )
    return None


def a_bad_batch_is_refused_or_reported_record_by_record(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    """Require a negative batch to be refused (400, 413, 415), or scored with its bad records reported as failed.

    The batch policy: a bad record does not lose the good ones' results, so a batch with only some bad records is
    a 200 that counts and reports them, not a 400.
    """
    if case.meta is None or not case.meta.generation.mode.is_negative or response.status_code in (400, 413, 415):
        return None
    if (response.request.method or "").lower() != case.operation.method.lower():
        return None  # an undeclared method: undeclared_method_is_answered_like_api_gateway judges it
    if response.status_code != 200 or response.json().get("failed", 0) < 1:
        raise Failure(
            operation=case.operation.label,
            title="Invalid batch neither refused nor reported",
            message=f"answered {response.status_code} with no failed record: {response.text[:300]}",
        )
    return None


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=MAX_EXAMPLES)
def test_every_request_drawn_from_the_openapi_document_is_answered_as_documented(case: Case) -> None:
    if case.path == "/predict/batch":
        checks = [c for c in CHECKS if c is not negative_data_rejection]
        extra = [undeclared_method_is_answered_like_api_gateway, a_bad_batch_is_refused_or_reported_record_by_record]
    else:
        checks, extra = CHECKS, [undeclared_method_is_answered_like_api_gateway]
    case.call_and_validate(checks=checks, additional_checks=extra)


# -- regression tests for the bugs the property test found --------------------------------------------------------


def test_the_openapi_document_declares_each_routes_200_and_its_error_body() -> None:
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))

    for path, errors in SERVED_ERRORS.items():
        responses = next(iter(document["paths"][path].values()))["responses"]
        assert "200" in responses, path
        for code in set(errors) & set(responses):
            assert describes_an_error_body(document, responses[code]), f"{path} {code}"


@pytest.mark.parametrize("route", ["/predict", "/predict/batch"])
def test_a_json_body_sent_as_text_plain_is_refused_with_415(stack: Stack, route: str) -> None:
    body = reference_payload() if route == "/predict" else {"customers": [reference_payload()]}

    # fetch() sends a string body as text/plain;charset=UTF-8 unless the page sets Content-Type.
    reply = send("POST", f"{stack.api_url}{route}", json.dumps(body), Content_Type="text/plain;charset=UTF-8")

    assert reply.status == 415, reply.body
    assert reply.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_body_that_is_not_utf8_is_refused_with_400(stack: Stack) -> None:
    body = json.dumps(reference_payload()).encode().replace(b'"SC"', b'"S\xc7"')

    reply = send("POST", f"{stack.api_url}/predict", body, Content_Type="application/json")

    assert reply.status == 400, reply.body
    assert reply.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("value", [1e40, "1e40"])
def test_a_number_too_large_for_the_model_is_refused_with_400_naming_the_field(stack: Stack, value: Any) -> None:
    reply = send("POST", f"{stack.api_url}/predict", {**reference_payload(), "Day Mins": value})

    assert reply.status == 400, reply.body
    assert [d["field"] for d in reply.json()["error"]["details"]] == ["Day Mins"]


@pytest.mark.parametrize(("field", "value"), [("Day Calls", "4.0"), ("Day Calls", "1_000"), ("Day Mins", "-0")])
def test_a_numeric_string_the_openapi_document_refuses_is_refused(stack: Stack, field: str, value: str) -> None:
    pattern = customer_schemas(json.loads(OPENAPI.read_text(encoding="utf-8")))[0]["properties"][field]["anyOf"][1]
    assert re.fullmatch(pattern["pattern"], value) is None

    reply = send("POST", f"{stack.api_url}/predict", {**reference_payload(), field: value})

    assert reply.status == 400, reply.body
