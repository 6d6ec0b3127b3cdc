"""Read the default expansion of template.yaml: routes, resources as created, the function and the API's body."""

from __future__ import annotations

from typing import Any

import pytest

from churn_local.template.samcli import IntrinsicResolver, resolved
from tests.template.conftest import PARAMETERS, resources_of_type

BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# What SAM attaches for `Tracing: Active` (SAM's AWS::Serverless::Function Tracing property): segments only.
XRAY_WRITE_ONLY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
# API Gateway ends a Lambda integration after 29 s (API Gateway quotas, "Maximum integration timeout").
API_GATEWAY_INTEGRATION_TIMEOUT_S = 29
# The routes the handler serves (src/churn_api/app.py), by the template's event names.
ROUTES = {
    "Predict": ("/predict", "post"),
    "PredictBatch": ("/predict/batch", "post"),
    "Health": ("/health", "get"),
    "HealthReady": ("/health/ready", "get"),
    "Swagger": ("/swagger", "get"),
}
KEYED_ROUTES = {ROUTES["Predict"], ROUTES["PredictBatch"]}
ORIGIN = PARAMETERS["CorsAllowOrigin"]
# Header mapping values in API Gateway are quoted literals.
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": f"'{ORIGIN}'",
    "Access-Control-Allow-Headers": "'Content-Type,X-Api-Key'",
    "Access-Control-Allow-Methods": "'GET,POST,OPTIONS'",
    "Access-Control-Max-Age": "'600'",
}
GATEWAY_ERROR_HEADERS = {"Access-Control-Allow-Origin": f"'{ORIGIN}'", "Vary": "'Origin'"}
BOTH_KEY_SETTINGS = pytest.mark.parametrize("keys", [True, False], ids=["keys-required", "keys-off"])


def is_created(deployed: IntrinsicResolver, entry: dict[str, Any]) -> bool:
    """Tell whether CloudFormation creates a resource or output, given its Condition."""
    condition = entry.get("Condition")
    return condition is None or resolved(deployed, {"Fn::If": [condition, True, False]}) is True


def created_of_type(expanded: dict[str, Any], deployed: IntrinsicResolver, resource_type: str) -> dict[str, Any]:
    """Return the resources of one type that CloudFormation creates, by logical id."""
    return {k: r for k, r in resources_of_type(expanded, resource_type).items() if is_created(deployed, r)}


def as_list(value: Any) -> list[Any]:
    """Return an IAM field (a string or a list of strings) as a list."""
    return value if isinstance(value, list) else [value]


def without_rollout(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Leave out what only a gradual deployment creates (the pre-traffic check: tests/template/test_rollout.py)."""
    return {k: r for k, r in resources.items() if r.get("Condition") != "GradualDeployment"}


def without_bulk_scoring(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Leave out what only bulk scoring creates (EnableBulkScoring: tests/template/test_bulk_scoring.py)."""
    return {k: r for k, r in resources.items() if r.get("Condition") != "BulkScoring"}


def function_properties(expanded: dict[str, Any]) -> dict[str, Any]:
    """Return the properties of the one Lambda function, checking that it is the one."""
    functions = without_bulk_scoring(without_rollout(resources_of_type(expanded, "AWS::Lambda::Function")))
    assert list(functions) == ["ChurnFunction"]
    properties: dict[str, Any] = functions["ChurnFunction"]["Properties"]
    return properties


def openapi_body(expanded: dict[str, Any], deployed: IntrinsicResolver) -> dict[str, Any]:
    """Return the one REST API's OpenAPI body, resolved."""
    apis = resources_of_type(expanded, "AWS::ApiGateway::RestApi")
    assert list(apis) == ["ChurnApi"]
    body: dict[str, Any] = resolved(deployed, apis["ChurnApi"]["Properties"]["Body"])
    return body


def expansion(keys: bool, request: pytest.FixtureRequest) -> tuple[dict[str, Any], IntrinsicResolver]:
    """Return the expanded template and its resolver with API keys required or not."""
    suffix = "" if keys else "_without_keys"
    return request.getfixturevalue(f"expanded{suffix}"), request.getfixturevalue(f"deployed{suffix}")


def keyed_methods(body: dict[str, Any]) -> set[tuple[str, str]]:
    """Return the (path, method) pairs whose OpenAPI security requires the API key (apiKeyRequired)."""
    return {
        (path, method)
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
        if any("api_key" in requirement for requirement in operation.get("security", []))
    }
