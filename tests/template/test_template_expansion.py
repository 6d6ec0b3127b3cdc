"""The CloudFormation that CloudFormation's transforms make of template.yaml, checked resource by resource.

Most checks use PARAMETERS (API keys on); what RequireApiKey changes is checked with both of its values.
"""

from __future__ import annotations

import ast
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver

from churn_api.config import Settings
from churn_local.constants import PROJECT_ROOT
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


def resolved(deployed: IntrinsicResolver, value: Any) -> Any:
    """Resolve Ref/Sub/GetAtt/If in a value as CloudFormation would once the stack exists."""
    return deployed.intrinsic_property_resolver(value, ignore_errors=False)


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


def function_properties(expanded: dict[str, Any]) -> dict[str, Any]:
    """Return the properties of the one Lambda function, checking that it is the one."""
    functions = without_rollout(resources_of_type(expanded, "AWS::Lambda::Function"))
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


def test_the_role_grants_only_the_endpoint_and_transformation_actions_plus_logs_and_x_ray(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Grant InvokeEndpoint and DescribeEndpoint on the one endpoint, GetObject on the one object, nothing else."""
    roles = without_rollout(resources_of_type(expanded, "AWS::IAM::Role"))
    # The model's role and API Gateway's logging role are checked in test_deployment_options.py.
    assert sorted(roles) == ["ApiGatewayLoggingRole", "ChurnFunctionRole", "ChurnModelRole"]
    assert function_properties(expanded)["Role"] == {"Fn::GetAtt": ["ChurnFunctionRole", "Arn"]}
    role = roles["ChurnFunctionRole"]["Properties"]
    # Its own logs, and X-Ray's write-only policy that SAM adds for Tracing: Active (PutTraceSegments,
    # PutTelemetryRecords and the sampling rules; AWS managed policy AWSXrayWriteOnlyAccess).
    assert sorted(role["ManagedPolicyArns"]) == sorted([BASIC_EXECUTION_ROLE, XRAY_WRITE_ONLY])
    assert not resources_of_type(expanded, "AWS::IAM::Policy")
    assert not resources_of_type(expanded, "AWS::IAM::ManagedPolicy")

    statements = [s for policy in resolved(deployed, role["Policies"]) for s in policy["PolicyDocument"]["Statement"]]
    for statement in statements:
        # No NotAction/NotResource (which grant everything else) and no Condition to reason about.
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}
        assert statement["Effect"] == "Allow"
        assert not any("*" in part for part in as_list(statement["Action"]) + as_list(statement["Resource"]))
    grants = sorted(
        (action, resource) for s in statements for action in as_list(s["Action"]) for resource in as_list(s["Resource"])
    )
    # SageMaker puts the endpoint name lowercased in its ARN; IAM compares ARNs case-sensitively.
    endpoint_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/{PARAMETERS['EndpointName'].lower()}"
    object_arn = f"arn:aws:s3:::{PARAMETERS['TransformBucket']}/{PARAMETERS['TransformKey']}"
    assert grants == [
        ("s3:GetObject", object_arn),
        ("sagemaker:DescribeEndpoint", endpoint_arn),
        ("sagemaker:InvokeEndpoint", endpoint_arn),
    ]


def test_the_function_runs_python_3_13_on_x86_64_traced_and_times_out_before_api_gateway(
    expanded: dict[str, Any],
) -> None:
    """Run on the layer's runtime and architecture with active X-Ray tracing, ending before API Gateway gives up."""
    function = function_properties(expanded)
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["x86_64"]
    assert function["MemorySize"] == 1024
    assert function["Timeout"] < API_GATEWAY_INTEGRATION_TIMEOUT_S
    assert function["TracingConfig"] == {"Mode": "Active"}


def test_the_handler_names_a_function_defined_in_the_code_uri(template: dict[str, Any]) -> None:
    """Point Handler at a module-level function that exists in the deployed code folder."""
    source = template["Resources"]["ChurnFunction"]["Properties"]
    module, _, name = source["Handler"].rpartition(".")
    module_path = PROJECT_ROOT / source["CodeUri"] / (module.replace(".", "/") + ".py")
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    assert name in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize(("logical_id", "folder"), [("ChurnFunction", "src"), ("SklearnLayer", "layer")])
def test_the_function_and_the_layer_are_built_by_their_own_makefiles_for_x86_64(
    template: dict[str, Any], logical_id: str, folder: str
) -> None:
    """Build each with `BuildMethod: makefile` and a `build-<LogicalId>` target in its code folder."""
    resource = template["Resources"][logical_id]
    build = {k: v for k, v in resource["Metadata"].items() if k != "checkov"}  # checkov's skips: test_checkov.py
    assert build == {"BuildMethod": "makefile", "BuildArchitecture": "x86_64"}
    code_uri = resource["Properties"].get("CodeUri") or resource["Properties"]["ContentUri"]
    assert (PROJECT_ROOT / code_uri).resolve() == PROJECT_ROOT / folder
    makefile = (PROJECT_ROOT / folder / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^build-{logical_id}:", makefile, re.MULTILINE)


def test_the_function_uses_the_sklearn_layer_made_for_the_same_runtime(expanded: dict[str, Any]) -> None:
    """Attach the one layer, made for the function's runtime and architecture."""
    function = function_properties(expanded)
    layers = resources_of_type(expanded, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    ((layer_id, layer),) = layers.items()
    assert function["Layers"] == [{"Ref": layer_id}]
    assert function["Runtime"] in layer["Properties"]["CompatibleRuntimes"]
    assert function["Architectures"][0] in layer["Properties"]["CompatibleArchitectures"]


def test_the_environment_comes_from_the_parameters_and_satisfies_the_functions_config(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Wire every variable config.py reads to its parameter, and set Powertools' service and namespace."""
    variables = resolved(deployed, function_properties(expanded)["Environment"])["Variables"]
    assert variables == {
        "ENDPOINT_NAME": PARAMETERS["EndpointName"],
        "TRANSFORM_BUCKET": PARAMETERS["TransformBucket"],
        "TRANSFORM_KEY": PARAMETERS["TransformKey"],
        "THRESHOLD": PARAMETERS["Threshold"],
        "CORS_ALLOW_ORIGINS": PARAMETERS["CorsAllowOrigin"],
        "ENABLE_SWAGGER": PARAMETERS["EnableSwagger"],
        "POWERTOOLS_SERVICE_NAME": "churn-api",
        "POWERTOOLS_LOG_LEVEL": PARAMETERS["LogLevel"],
        "POWERTOOLS_METRICS_NAMESPACE": "ChurnApi",
        # Their other values are checked per deployment option in test_deployment_options.py.
        "ENDPOINT_KIND": "external",
        "TRANSFORM_SHA256": "",
        "FEATURE_SIGNATURE": "",
        "TRANSFORM_BUCKET_OWNER": ACCOUNT_ID,
        "EAGER_INIT": "false",
        "MODEL_DATA_URL": "",
    }
    assert Settings.from_env(variables) == Settings(
        endpoint_name=PARAMETERS["EndpointName"],
        transform_bucket=PARAMETERS["TransformBucket"],
        transform_key=PARAMETERS["TransformKey"],
        threshold=float(PARAMETERS["Threshold"]),
        cors_allow_origins=(PARAMETERS["CorsAllowOrigin"],),
        enable_swagger=True,
        bucket_owner=ACCOUNT_ID,
    )


def test_the_functions_log_group_is_declared_with_a_retention(expanded: dict[str, Any]) -> None:
    """Own the function's log group so that its logs expire and leave with the stack."""
    groups = without_rollout(resources_of_type(expanded, "AWS::Logs::LogGroup"))
    # The API's access log and the endpoint's log are checked in test_deployment_options.py.
    assert sorted(groups) == ["ChurnApiAccessLogGroup", "ChurnEndpointLogGroup", "ChurnFunctionLogGroup"]
    group = groups["ChurnFunctionLogGroup"]
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${ChurnFunction}"}
    assert group["Properties"]["RetentionInDays"] > 0
    assert group["DeletionPolicy"] == "Delete"


def test_the_url_outputs_are_the_invoke_urls_of_routes_the_api_serves(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Output the full URLs of /predict, /predict/batch, /health and /swagger on the stage."""
    outputs = {name: resolved(deployed, output["Value"]) for name, output in expanded["Outputs"].items()}
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
