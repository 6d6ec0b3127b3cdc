"""The CloudFormation that SAM's transform makes of template.yaml, expanded offline and checked resource by resource."""

from __future__ import annotations

import ast
import re
from typing import Any
from urllib.parse import urlsplit

from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver

from churn_api.config import Settings
from tests.support import PROJECT_ROOT
from tests.template.conftest import (
    ACCOUNT_ID,
    API_ID,
    FUNCTION_ARN,
    PARAMETERS,
    REGION,
    resources_of_type,
)

BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# API Gateway ends a Lambda integration after 29 s (API Gateway quotas, "Maximum integration timeout").
API_GATEWAY_INTEGRATION_TIMEOUT_S = 29


def resolved(deployed: IntrinsicResolver, value: Any) -> Any:
    """Resolve Ref/Sub/GetAtt in a value as CloudFormation would once the stack exists."""
    return deployed.intrinsic_property_resolver(value, ignore_errors=False)


def as_list(value: Any) -> list[Any]:
    """Return an IAM field (a string or a list of strings) as a list."""
    return value if isinstance(value, list) else [value]


def function_properties(expanded: dict[str, Any]) -> dict[str, Any]:
    """Return the properties of the one Lambda function, checking that it is the one."""
    functions = resources_of_type(expanded, "AWS::Lambda::Function")
    assert list(functions) == ["ChurnFunction"]
    properties: dict[str, Any] = functions["ChurnFunction"]["Properties"]
    return properties


def test_post_predict_is_the_only_route_and_proxies_to_the_churn_function(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Route POST /predict, and nothing else, through a Lambda proxy integration to ChurnFunction."""
    apis = resources_of_type(expanded, "AWS::ApiGateway::RestApi")
    assert list(apis) == ["ChurnApi"]
    paths = apis["ChurnApi"]["Properties"]["Body"]["paths"]
    assert {path: list(methods) for path, methods in paths.items()} == {"/predict": ["post"]}
    integration = resolved(deployed, paths["/predict"]["post"]["x-amazon-apigateway-integration"])
    assert integration["type"] == "aws_proxy"
    # API Gateway always calls Lambda's Invoke API with POST, whatever the client's method.
    assert integration["httpMethod"] == "POST"
    invoke = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
    assert integration["uri"] == invoke


def test_api_gateway_may_invoke_the_function_only_for_post_predict_on_this_api(expanded: dict[str, Any]) -> None:
    """Scope the function's resource policy to this API's POST /predict."""
    permissions = resources_of_type(expanded, "AWS::Lambda::Permission")
    assert len(permissions) == 1
    (permission,) = (p["Properties"] for p in permissions.values())
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": "ChurnFunction"}
    source_arn, variables = permission["SourceArn"]["Fn::Sub"]
    assert source_arn.endswith("/POST/predict")
    assert variables["__ApiId__"] == {"Ref": "ChurnApi"}


def test_the_api_is_regional_with_a_single_stage_named_by_the_parameter(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Make a Regional endpoint with only the StageName stage (no extra stage called "Stage")."""
    api = expanded["Resources"]["ChurnApi"]["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    stages = resources_of_type(expanded, "AWS::ApiGateway::Stage")
    assert [resolved(deployed, stage["Properties"]["StageName"]) for stage in stages.values()] == [
        PARAMETERS["StageName"]
    ]
    # A StageName on the Deployment itself would create a second stage.
    for deployment in resources_of_type(expanded, "AWS::ApiGateway::Deployment").values():
        assert "StageName" not in deployment["Properties"]


def test_the_role_grants_only_invoke_endpoint_on_the_endpoint_and_get_object_on_the_transformation(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Grant the function exactly one action on one resource for SageMaker and for S3, plus its own logs."""
    roles = resources_of_type(expanded, "AWS::IAM::Role")
    assert list(roles) == ["ChurnFunctionRole"]
    assert function_properties(expanded)["Role"] == {"Fn::GetAtt": ["ChurnFunctionRole", "Arn"]}
    role = roles["ChurnFunctionRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [BASIC_EXECUTION_ROLE]
    assert not resources_of_type(expanded, "AWS::IAM::Policy")
    assert not resources_of_type(expanded, "AWS::IAM::ManagedPolicy")

    statements = [s for policy in resolved(deployed, role["Policies"]) for s in policy["PolicyDocument"]["Statement"]]
    for statement in statements:
        # No NotAction/NotResource (which grant everything else) and no Condition to reason about.
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}
        assert statement["Effect"] == "Allow"
        assert not any("*" in part for part in as_list(statement["Action"]) + as_list(statement["Resource"]))
    grants = sorted((as_list(s["Action"]), as_list(s["Resource"])) for s in statements)
    # SageMaker puts the endpoint name lowercased in its ARN; IAM compares ARNs case-sensitively.
    endpoint_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/{PARAMETERS['EndpointName'].lower()}"
    object_arn = f"arn:aws:s3:::{PARAMETERS['TransformBucket']}/{PARAMETERS['TransformKey']}"
    assert grants == [(["s3:GetObject"], [object_arn]), (["sagemaker:InvokeEndpoint"], [endpoint_arn])]


def test_the_function_runs_python_3_13_on_x86_64_and_times_out_before_api_gateway(expanded: dict[str, Any]) -> None:
    """Run on the runtime and architecture the layer is built for, ending before API Gateway gives up."""
    function = function_properties(expanded)
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["x86_64"]
    assert function["MemorySize"] == 1024
    assert function["Timeout"] < API_GATEWAY_INTEGRATION_TIMEOUT_S


def test_the_handler_names_a_function_defined_in_the_code_uri(template: dict[str, Any]) -> None:
    """Point Handler at a module-level function that exists in the deployed code folder."""
    source = template["Resources"]["ChurnFunction"]["Properties"]
    module, _, name = source["Handler"].rpartition(".")
    module_path = PROJECT_ROOT / source["CodeUri"] / (module.replace(".", "/") + ".py")
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    assert name in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_the_function_uses_the_sklearn_layer_built_by_its_makefile_for_the_same_runtime(
    template: dict[str, Any], expanded: dict[str, Any]
) -> None:
    """Attach the one layer, made for the function's runtime and architecture by layer/Makefile."""
    function = function_properties(expanded)
    layers = resources_of_type(expanded, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    ((layer_id, layer),) = layers.items()
    assert function["Layers"] == [{"Ref": layer_id}]
    assert function["Runtime"] in layer["Properties"]["CompatibleRuntimes"]
    assert function["Architectures"][0] in layer["Properties"]["CompatibleArchitectures"]

    source = template["Resources"]["SklearnLayer"]
    assert source["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "x86_64"}
    makefile = (PROJECT_ROOT / source["Properties"]["ContentUri"] / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^build-SklearnLayer:", makefile, re.MULTILINE)


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
        "POWERTOOLS_SERVICE_NAME": "churn-api",
        "POWERTOOLS_LOG_LEVEL": PARAMETERS["LogLevel"],
        "POWERTOOLS_METRICS_NAMESPACE": "ChurnApi",
    }
    assert Settings.from_env(variables) == Settings(
        endpoint_name=PARAMETERS["EndpointName"],
        transform_bucket=PARAMETERS["TransformBucket"],
        transform_key=PARAMETERS["TransformKey"],
        threshold=float(PARAMETERS["Threshold"]),
    )


def test_the_functions_log_group_is_declared_with_a_retention(expanded: dict[str, Any]) -> None:
    """Own the function's log group so that its logs expire and leave with the stack."""
    groups = resources_of_type(expanded, "AWS::Logs::LogGroup")
    assert len(groups) == 1
    (group,) = groups.values()
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${ChurnFunction}"}
    assert group["Properties"]["RetentionInDays"] > 0
    assert group["DeletionPolicy"] == "Delete"


def test_the_outputs_give_the_invoke_url_of_post_predict_and_the_function_arn(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Output the full URL of the /predict route on the stage, the function's ARN and the API id."""
    outputs = {name: resolved(deployed, output["Value"]) for name, output in expanded["Outputs"].items()}
    url = outputs["PredictUrl"]
    assert url == f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/{PARAMETERS['StageName']}/predict"
    # The URL's path is the stage followed by the one route the API serves.
    (route,) = expanded["Resources"]["ChurnApi"]["Properties"]["Body"]["paths"]
    assert urlsplit(url).path == f"/{PARAMETERS['StageName']}{route}"
    assert outputs["ChurnFunctionArn"] == FUNCTION_ARN
    assert outputs["ChurnApiId"] == API_ID
