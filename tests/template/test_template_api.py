"""The REST API that CloudFormation's transforms make of template.yaml: routes, preflight, keys, usage plan, stage,
outputs. Most checks use PARAMETERS (API keys on); what RequireApiKey changes is checked with both of its values.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from churn_local.template.samcli import IntrinsicResolver
from tests.template.conftest import (
    ACCOUNT_ID,
    API_ID,
    API_KEY_ID,
    FUNCTION_ARN,
    PARAMETERS,
    REGION,
    expand,
    resources_of_type,
)
from tests.template.expanded import (
    BOTH_KEY_SETTINGS,
    GATEWAY_ERROR_HEADERS,
    KEYED_ROUTES,
    PREFLIGHT_HEADERS,
    ROUTES,
    created_of_type,
    expansion,
    is_created,
    keyed_methods,
    openapi_body,
    resolved,
)


def test_the_template_declares_the_five_api_events_on_the_churn_function(template: dict[str, Any]) -> None:
    """Declare Predict, PredictBatch, Health, HealthReady and Swagger, all on ChurnApi."""
    events = template["Resources"]["ChurnFunction"]["Properties"]["Events"]
    assert {name: (e["Properties"]["Path"], e["Properties"]["Method"]) for name, e in events.items()} == ROUTES
    assert {e["Type"] for e in events.values()} == {"Api"}
    assert all(e["Properties"]["RestApiId"] == {"Ref": "ChurnApi"} for e in events.values())


def test_every_route_proxies_to_the_churn_function_and_every_path_answers_the_preflight(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Route each event through a Lambda proxy integration, and give each path an OPTIONS method."""
    paths = openapi_body(expanded, deployed)["paths"]
    expected: dict[str, set[str]] = {}
    for path, method in ROUTES.values():
        expected.setdefault(path, {"options"}).add(method)
    assert {path: set(methods) for path, methods in paths.items()} == expected
    invoke = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
    for path, method in ROUTES.values():
        integration = paths[path][method]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        # API Gateway always calls Lambda's Invoke API with POST, whatever the client's method.
        assert integration["httpMethod"] == "POST"
        assert integration["uri"] == invoke


def test_api_gateway_may_invoke_the_function_only_for_the_five_routes_of_this_api(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Scope the function's resource policy to this API's five method/path pairs."""
    permissions = resources_of_type(expanded, "AWS::Lambda::Permission")
    source_arns = set()
    for permission in (p["Properties"] for p in permissions.values()):
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["FunctionName"] == {"Ref": "ChurnFunction"}
        # SAM writes the long form of Fn::Sub, whose variable names SAM CLI's resolver does not substitute.
        text, variables = permission["SourceArn"]["Fn::Sub"]
        for name, value in resolved(deployed, variables).items():
            text = text.replace(f"${{{name}}}", value)
        source_arns.add(resolved(deployed, {"Fn::Sub": text}))
    prefix = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/*"
    assert source_arns == {f"{prefix}/{method.upper()}{path}" for path, method in ROUTES.values()}


@BOTH_KEY_SETTINGS
def test_the_preflight_is_answered_by_api_gateway_with_the_origin_parameter_and_never_needs_a_key(
    keys: bool, request: pytest.FixtureRequest
) -> None:
    """Answer OPTIONS on every path with a mock integration that sets the CORS headers, without a key."""
    expanded, deployed = expansion(keys, request)
    for path, methods in openapi_body(expanded, deployed)["paths"].items():
        options = methods["options"]
        # SAM leaves the preflight out of the key requirement with AddApiKeyRequiredToCorsPreflight: false.
        assert "security" not in options, path
        integration = options["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock"
        parameters = integration["responses"]["default"]["responseParameters"]
        assert parameters == {f"method.response.header.{name}": value for name, value in PREFLIGHT_HEADERS.items()}


@BOTH_KEY_SETTINGS
def test_api_gateways_own_4xx_and_5xx_errors_carry_the_cors_headers(keys: bool, request: pytest.FixtureRequest) -> None:
    """Add Access-Control-Allow-Origin and Vary to the default 4XX and 5XX gateway responses."""
    expanded, deployed = expansion(keys, request)
    responses = openapi_body(expanded, deployed)["x-amazon-apigateway-gateway-responses"]
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        expected = {f"gatewayresponse.header.{name}": value for name, value in GATEWAY_ERROR_HEADERS.items()}
        assert response["responseParameters"] == expected


def test_with_require_api_key_true_only_the_two_predict_methods_require_the_x_api_key_header(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Require x-api-key on POST /predict and POST /predict/batch; never on health, Swagger or the preflight."""
    body = openapi_body(expanded, deployed)
    assert keyed_methods(body) == KEYED_ROUTES
    assert body["components"]["securitySchemes"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    # API Gateway reads the key from the header unless told otherwise (x-amazon-apigateway-api-key-source).
    assert body.get("x-amazon-apigateway-api-key-source", "HEADER") == "HEADER"


def test_with_require_api_key_false_no_method_requires_a_key(
    expanded_without_keys: dict[str, Any], deployed_without_keys: IntrinsicResolver
) -> None:
    """Leave every method open when RequireApiKey is false."""
    assert keyed_methods(openapi_body(expanded_without_keys, deployed_without_keys)) == set()


def test_with_require_api_key_true_a_usage_plan_limits_one_key_on_this_apis_stage(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Create one usage plan with the rate, burst and quota parameters, one enabled key, and their link."""
    ((plan_id, plan),) = created_of_type(expanded, deployed, "AWS::ApiGateway::UsagePlan").items()
    ((key_id, key),) = created_of_type(expanded, deployed, "AWS::ApiGateway::ApiKey").items()
    (link,) = created_of_type(expanded, deployed, "AWS::ApiGateway::UsagePlanKey").values()
    properties = resolved(deployed, plan["Properties"])
    assert properties["ApiStages"] == [{"ApiId": API_ID, "Stage": PARAMETERS["StageName"]}]
    assert {name: float(value) for name, value in properties["Throttle"].items()} == {
        "RateLimit": float(PARAMETERS["ThrottleRateLimit"]),
        "BurstLimit": float(PARAMETERS["ThrottleBurstLimit"]),
    }
    assert int(properties["Quota"]["Limit"]) == int(PARAMETERS["QuotaLimit"])
    assert properties["Quota"]["Period"] == PARAMETERS["QuotaPeriod"]
    # Referencing the generated stage (not just its name) makes CloudFormation create the plan after the stage.
    (stage_id,) = resources_of_type(expanded, "AWS::ApiGateway::Stage")
    assert plan["Properties"]["ApiStages"][0]["Stage"] == {"Ref": stage_id}
    assert key["Properties"]["Enabled"] is True
    assert link["Properties"] == {"KeyId": {"Ref": key_id}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": plan_id}}


def test_with_require_api_key_false_no_usage_plan_or_key_is_created(
    expanded_without_keys: dict[str, Any], deployed_without_keys: IntrinsicResolver
) -> None:
    """Create neither plan nor key nor link when RequireApiKey is false."""
    for resource_type in ("UsagePlan", "ApiKey", "UsagePlanKey"):
        assert created_of_type(expanded_without_keys, deployed_without_keys, f"AWS::ApiGateway::{resource_type}") == {}


@BOTH_KEY_SETTINGS
def test_the_stage_throttles_every_method_with_the_rate_and_burst_parameters(
    keys: bool, request: pytest.FixtureRequest
) -> None:
    """Throttle the whole stage, so the limits hold for callers without a key too."""
    expanded, deployed = expansion(keys, request)
    (stage,) = resources_of_type(expanded, "AWS::ApiGateway::Stage").values()
    (settings,) = resolved(deployed, stage["Properties"]["MethodSettings"])
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert float(settings["ThrottlingRateLimit"]) == float(PARAMETERS["ThrottleRateLimit"])
    assert int(settings["ThrottlingBurstLimit"]) == int(PARAMETERS["ThrottleBurstLimit"])


def test_changing_require_api_key_or_the_origin_deploys_the_api_again(
    expanded: dict[str, Any], expanded_without_keys: dict[str, Any]
) -> None:
    """Give the stage a new Deployment when a parameter changes the API, or it would keep serving the old one.

    An AWS::ApiGateway::Deployment is a snapshot: SAM names it by a hash of the OpenAPI body, so only a body that
    differs once parameters are substituted yields a new Deployment (AWS::LanguageExtensions does this).
    """
    other_origin = expand({**PARAMETERS, "CorsAllowOrigin": "https://other.example.com"})
    deployments = [
        set(resources_of_type(t, "AWS::ApiGateway::Deployment"))
        for t in (expanded, expanded_without_keys, other_origin)
    ]
    assert all(len(d) == 1 for d in deployments)
    assert len(set().union(*deployments)) == 3


def test_the_api_is_regional_with_a_single_traced_stage_named_by_the_parameter(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Make a Regional endpoint with only the StageName stage (no extra stage called "Stage"), traced by X-Ray."""
    api = expanded["Resources"]["ChurnApi"]["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    stages = resources_of_type(expanded, "AWS::ApiGateway::Stage")
    assert [resolved(deployed, stage["Properties"]["StageName"]) for stage in stages.values()] == [
        PARAMETERS["StageName"]
    ]
    assert all(stage["Properties"]["TracingEnabled"] is True for stage in stages.values())
    # A StageName on the Deployment itself would create a second stage.
    for deployment in resources_of_type(expanded, "AWS::ApiGateway::Deployment").values():
        assert "StageName" not in deployment["Properties"]


def test_the_url_outputs_are_the_invoke_urls_of_routes_the_api_serves(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Output the full URLs of /predict, /predict/batch, /health and /swagger on the stage."""
    outputs = {
        name: resolved(deployed, output["Value"])
        for name, output in expanded["Outputs"].items()
        if output.get("Condition") != "BulkScoring"  # test_bulk_scoring.py
    }
    stage_url = f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/{PARAMETERS['StageName']}"
    urls = {name: outputs[name] for name in ("PredictUrl", "BatchUrl", "HealthUrl", "SwaggerUrl")}
    assert urls == {
        "PredictUrl": f"{stage_url}/predict",
        "BatchUrl": f"{stage_url}/predict/batch",
        "HealthUrl": f"{stage_url}/health",
        "SwaggerUrl": f"{stage_url}/swagger",
    }
    paths = openapi_body(expanded, deployed)["paths"]
    assert all(urlsplit(url).path.removeprefix(f"/{PARAMETERS['StageName']}") in paths for url in urls.values())
    assert outputs["ChurnFunctionArn"] == FUNCTION_ARN
    assert outputs["ChurnApiId"] == API_ID


def test_with_require_api_key_true_the_api_key_id_is_an_output(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Output the id that `aws apigateway get-api-key --api-key <id> --include-value` takes."""
    output = expanded["Outputs"]["ApiKeyId"]
    assert is_created(deployed, output)
    assert resolved(deployed, output["Value"]) == API_KEY_ID
    assert "get-api-key" in output["Description"]


def test_with_require_api_key_false_there_is_no_api_key_id_output(
    expanded_without_keys: dict[str, Any], deployed_without_keys: IntrinsicResolver
) -> None:
    """Leave ApiKeyId out of the stack's outputs when no key exists."""
    assert not is_created(deployed_without_keys, expanded_without_keys["Outputs"]["ApiKeyId"])
    others = {name for name, o in expanded_without_keys["Outputs"].items() if is_created(deployed_without_keys, o)}
    assert others == {
        "PredictUrl",
        "BatchUrl",
        "HealthUrl",
        "SwaggerUrl",
        "ChurnFunctionArn",
        "ChurnApiId",
        "EndpointKind",
    }
