"""The function that CloudFormation's transforms make of template.yaml: its role, runtime, handler, build, layer,
environment and log group, checked resource by resource."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from churn_api.config import Settings
from churn_local.constants import PROJECT_ROOT
from churn_local.template.samcli import IntrinsicResolver
from tests.template.conftest import (
    ACCOUNT_ID,
    PARAMETERS,
    REGION,
    resources_of_type,
)
from tests.template.expanded import (
    API_GATEWAY_INTEGRATION_TIMEOUT_S,
    BASIC_EXECUTION_ROLE,
    XRAY_WRITE_ONLY,
    as_list,
    function_properties,
    resolved,
    without_bulk_scoring,
    without_rollout,
)


def test_the_role_grants_only_the_endpoint_and_transformation_actions_plus_logs_and_x_ray(
    expanded: dict[str, Any], deployed: IntrinsicResolver
) -> None:
    """Grant InvokeEndpoint and DescribeEndpoint on the one endpoint, GetObject on the one object, nothing else."""
    roles = without_bulk_scoring(without_rollout(resources_of_type(expanded, "AWS::IAM::Role")))
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


@pytest.mark.parametrize(
    ("logical_id", "folder"), [("ChurnFunction", "src"), ("BulkScoreFunction", "src"), ("SklearnLayer", "layer")]
)
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
    groups = without_bulk_scoring(without_rollout(resources_of_type(expanded, "AWS::Logs::LogGroup")))
    # The API's access log and the endpoint's log are checked in test_deployment_options.py.
    assert sorted(groups) == ["ChurnApiAccessLogGroup", "ChurnEndpointLogGroup", "ChurnFunctionLogGroup"]
    group = groups["ChurnFunctionLogGroup"]
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${ChurnFunction}"}
    assert group["Properties"]["RetentionInDays"] > 0
    assert group["DeletionPolicy"] == "Delete"
