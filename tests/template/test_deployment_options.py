"""What each deployment option makes of template.yaml: the hosted model, SnapStart or provisioned concurrency,
access logs and the Cognito authorizer, each expanded offline and linted."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver

from churn_api.config import ENDPOINT_PAYLOAD_LIMITS, Settings
from churn_local.constants import PROJECT_ROOT
from churn_local.template import images
from tests.template.conftest import (
    ACCOUNT_ID,
    FUNCTION_ARN,
    PARAMETERS,
    REGION,
    expand,
    load_template,
    resolver_for,
    resources_of_type,
)
from tests.template.options import (
    ACCESS_LOG_GROUP_ARN,
    ALIAS_ARN,
    ENDPOINT_LOG_GROUP_ARN,
    MODEL_BUCKET,
    MODEL_DATA_URL,
    MODEL_KEY,
    OPTIONS,
    USER_POOL_ARN,
    expanded_with,
    parameters,
)

HOSTED = ("ChurnModel", "ChurnModelRole", "ChurnEndpointConfig", "ChurnEndpoint", "ChurnEndpointLogGroup")
ENDPOINT_KINDS = {
    "existing-endpoint": "external",
    "serverless": "serverless",
    "instance": "real-time",
    "snapstart": "serverless",
    "provisioned": "external",
    "cognito": "external",
    "capture": "real-time",
    "canary": "serverless",
    "all-at-once": "external",
    "bulk": "external",
}
EACH_OPTION = pytest.mark.parametrize("option", list(OPTIONS))
# Actions AWS documents with no resource-level permissions, where "*" is the only resource IAM accepts.
RESOURCELESS_ACTIONS = {"ecr:GetAuthorizationToken"}
# Step Functions' log delivery to CloudWatch (the bulk scoring state machine): these take no resource either.
RESOURCELESS_ACTIONS |= {
    f"logs:{action}"
    for action in ("CreateLogDelivery", "GetLogDelivery", "UpdateLogDelivery", "DeleteLogDelivery",
                   "ListLogDeliveries", "PutResourcePolicy", "DescribeResourcePolicies", "DescribeLogGroups")
}  # fmt: skip
# Wildcards that stand for names made at run time: the bulk bucket's two prefixes, the bulk state machine's children.
BULK_WILDCARDS = re.compile(
    r"arn:aws:s3:::[a-z0-9.-]+/(input|output)/\*|arn:aws:states:[a-z0-9-]+:[0-9]{12}:execution:[a-z0-9-]+-bulk-scoring/\*"
)
CAPTURE_OBJECTS = f"arn:aws:s3:::{PARAMETERS['TransformBucket']}/captured/churn/*"
# A log group's ARN as GetAtt gives it ends in ":*" (its streams, which SageMaker names as it creates them).
LOG_GROUP_STREAMS = re.compile(r"arn:aws:logs:[a-z0-9-]+:[0-9]{12}:log-group:[^*]+:\*")


def resolved(deployed: IntrinsicResolver, value: Any) -> Any:
    return deployed.intrinsic_property_resolver(value, ignore_errors=False)


def created(option: str) -> dict[str, dict[str, Any]]:
    """Return the resources CloudFormation creates for one option (conditions applied), by logical id."""
    expanded, deployed = expanded_with(option)
    return {
        logical_id: resource
        for logical_id, resource in expanded["Resources"].items()
        if "Condition" not in resource or resolved(deployed, {"Fn::If": [resource["Condition"], True, False]}) is True
    }


def of_type(option: str, resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in created(option).items() if r["Type"] == resource_type}


def properties(option: str, logical_id: str) -> Any:
    _, deployed = expanded_with(option)
    return resolved(deployed, created(option)[logical_id]["Properties"])


def environment(option: str) -> dict[str, str]:
    variables: dict[str, str] = properties(option, "ChurnFunction")["Environment"]["Variables"]
    return variables


def grants(statements: list[dict[str, Any]]) -> list[tuple[str, str]]:
    as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    return sorted((a, r) for s in statements for a in as_list(s["Action"]) for r in as_list(s["Resource"]))


# What cfn-lint says of any template the transforms have expanded: they have already substituted the parameters,
# settled the conditions and looked up the mappings (W2001, W8001, W8003, W7001), and SAM writes `arn:aws:` into
# the ARNs it generates for the region's partition (I3042). template.yaml itself is linted with all checks.
RESOLVED_BY_THE_TRANSFORMS = ["W2001", "W8001", "W8003", "W7001", "I3042", "I4010"]


def as_deployed(option: str) -> dict[str, Any]:
    """Return the expanded template as CloudFormation applies it: resources whose condition is false left out."""
    expanded, _ = expanded_with(option)
    _, deployed = expanded_with(option)
    resources = {k: {n: v for n, v in r.items() if n != "Condition"} for k, r in created(option).items()}
    outputs = {
        k: {n: v for n, v in o.items() if n != "Condition"}
        for k, o in expanded["Outputs"].items()
        if "Condition" not in o or resolved(deployed, {"Fn::If": [o["Condition"], True, False]}) is True
    }
    return {**expanded, "Resources": resources, "Outputs": outputs, "Conditions": {}}


@EACH_OPTION
def test_every_option_expands_to_cloudformation_that_cfn_lint_accepts(option: str) -> None:
    config = ManualArgs(regions=[REGION], include_checks=["I"], ignore_checks=RESOLVED_BY_THE_TRANSFORMS)
    matches = lint(json.dumps(as_deployed(option), default=str), config=config)
    assert [str(m) for m in matches] == []


@EACH_OPTION
def test_the_model_is_hosted_only_when_model_data_url_is_set(option: str) -> None:
    hosted = [logical_id for logical_id in HOSTED if logical_id in created(option)]
    assert hosted == (list(HOSTED) if "ModelDataUrl" in OPTIONS[option] else [])


@EACH_OPTION
def test_the_function_learns_its_endpoint_kind_and_chunks_below_that_kinds_limit(option: str) -> None:
    variables = environment(option)
    assert variables["ENDPOINT_KIND"] == ENDPOINT_KINDS[option]
    settings = Settings.from_env(variables)
    assert settings.max_chunk_bytes < ENDPOINT_PAYLOAD_LIMITS[ENDPOINT_KINDS[option]]
    assert settings.bucket_owner == ACCOUNT_ID


def test_the_pins_reach_the_function_as_published() -> None:
    digest, signature = "0123456789abcdef" * 4, "fedcba9876543210" * 4
    overrides = {**parameters("serverless"), "TransformSha256": digest, "FeatureSignature": signature}
    pinned = expand(overrides)
    variables = resolver_for(pinned, overrides).intrinsic_property_resolver(
        pinned["Resources"]["ChurnFunction"]["Properties"]["Environment"], ignore_errors=False
    )["Variables"]
    settings = Settings.from_env(variables)
    assert (settings.transform_sha256, settings.feature_signature) == (digest, signature)


def test_the_template_mapping_is_the_generators_output_for_every_region(template: dict[str, Any]) -> None:
    registry = images.load_registry()
    assert template["Mappings"][images.MAPPING_NAME] == images.mapping(registry)
    assert images.main(["--check"]) == 0
    sdk = registry["inference"][images.IMAGE_VERSION]["registries"]
    assert len(template["Mappings"][images.MAPPING_NAME]) == len(sdk) > 30
    for region, account in sdk.items():
        assert template["Mappings"][images.MAPPING_NAME][region] == {"Account": account}
        assert re.fullmatch(r"[0-9]{12}", account)


def test_the_shipped_image_registry_is_the_workplace_reference_copy() -> None:
    # The project ships its own copy (data/reference); where the shared reference sits beside it, they agree.
    shared = PROJECT_ROOT.parent / "shared" / "reference" / images.REGISTRY_PATH.name
    if not shared.exists():
        pytest.skip(f"{shared} is not beside this checkout")
    assert images.load_registry() == images.load_registry(shared)


def test_the_generator_refuses_a_template_whose_mapping_is_stale(tmp_path: Any) -> None:
    stale = tmp_path / "template.yaml"
    text = images.TEMPLATE_PATH.read_text(encoding="utf-8")
    stale.write_text(text.replace('"141502667606"', '"000000000000"'), encoding="utf-8")
    assert images.main(["--check", "--template", str(stale)]) == 1
    assert images.main(["--write", "--template", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("option", ["serverless", "instance"])
def test_the_model_runs_the_built_in_xgboost_3_2_0_image_of_the_region_on_the_published_archive(option: str) -> None:
    model = properties(option, "ChurnModel")
    account = images.image_accounts(images.load_registry())[REGION]
    assert model["PrimaryContainer"] == {
        "Mode": "SingleModel",
        "ModelDataUrl": MODEL_DATA_URL,
        "Image": f"{account}.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.2-0",
    }
    # The version make train packages the model for.
    from churn_local.training.train import TARGET_CONTAINER

    assert model["PrimaryContainer"]["Image"].endswith(f":{TARGET_CONTAINER['framework_version']}")
    assert model["EnableNetworkIsolation"] is True


def test_serverless_by_default_with_the_memory_and_concurrency_asked_for() -> None:
    (variant,) = properties("serverless", "ChurnEndpointConfig")["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": "3072", "MaxConcurrency": "20"}
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant


def test_an_instance_type_makes_the_endpoint_real_time_with_the_count_asked_for() -> None:
    (variant,) = properties("instance", "ChurnEndpointConfig")["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", "2")
    assert "ServerlessConfig" not in variant


@pytest.mark.parametrize("option", ["serverless", "instance"])
def test_the_endpoint_is_named_as_the_function_calls_it_and_the_functions_policy_names_it(option: str) -> None:
    endpoint = properties(option, "ChurnEndpoint")
    assert endpoint["EndpointName"] == environment(option)["ENDPOINT_NAME"] == PARAMETERS["EndpointName"]
    assert created(option)["ChurnEndpoint"]["Properties"]["EndpointConfigName"] == {
        "Fn::GetAtt": ["ChurnEndpointConfig", "EndpointConfigName"]
    }
    role = properties(option, "ChurnFunctionRole")
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/{endpoint['EndpointName']}"
    sagemaker = [g for g in grants([s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]])]
    assert ("sagemaker:InvokeEndpoint", arn) in sagemaker
    assert {r for a, r in sagemaker if a.startswith("sagemaker:")} == {arn}


def test_the_models_role_reads_one_object_pulls_one_repository_and_writes_its_own_logs() -> None:
    role = properties("serverless", "ChurnModelRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert "ManagedPolicyArns" not in role
    account = images.image_accounts(images.load_registry())[REGION]
    repository = f"arn:aws:ecr:{REGION}:{account}:repository/sagemaker-xgboost"
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert grants(statements) == [
        ("ecr:BatchCheckLayerAvailability", repository),
        ("ecr:BatchGetImage", repository),
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:GetDownloadUrlForLayer", repository),
        ("logs:CreateLogStream", ENDPOINT_LOG_GROUP_ARN),
        ("logs:DescribeLogStreams", ENDPOINT_LOG_GROUP_ARN),
        ("logs:PutLogEvents", ENDPOINT_LOG_GROUP_ARN),
        ("s3:GetObject", f"arn:aws:s3:::{MODEL_BUCKET}/{MODEL_KEY}"),
    ]
    group = properties("serverless", "ChurnEndpointLogGroup")
    assert group["LogGroupName"] == f"/aws/sagemaker/Endpoints/{PARAMETERS['EndpointName']}"
    assert group["RetentionInDays"] == 30


@EACH_OPTION
def test_no_inline_iam_statement_grants_a_wildcard_except_where_aws_allows_no_resource(option: str) -> None:
    _, deployed = expanded_with(option)
    for logical_id, role in of_type(option, "AWS::IAM::Role").items():
        for policy in resolved(deployed, role["Properties"].get("Policies", [])):
            for action, resource in grants(policy["PolicyDocument"]["Statement"]):
                assert "*" not in action, (logical_id, action)
                if resource == "*":
                    assert action in RESOURCELESS_ACTIONS, (logical_id, action)
                else:
                    # A log group's streams, or (the pre-traffic check) the churn function's versions: its own ARN
                    # qualified by any version, as the check reads the version from the deployment.
                    versions = action == "lambda:InvokeFunction" and resource == f"{FUNCTION_ARN}:*"
                    # Data capture: the objects SageMaker names under the one prefix.
                    captured = action == "s3:PutObject" and resource == CAPTURE_OBJECTS
                    # Bulk scoring: its bucket's two prefixes and its state machine's child executions.
                    bulk = BULK_WILDCARDS.fullmatch(resource)
                    scoped = LOG_GROUP_STREAMS.fullmatch(resource) or versions or captured or bulk
                    assert "*" not in resource or scoped, (logical_id, resource)
        for statement in resolved(deployed, role["Properties"]["AssumeRolePolicyDocument"])["Statement"]:
            assert statement["Principal"] != "*" and "AWS" not in statement["Principal"], logical_id


@pytest.mark.parametrize("option", ["snapstart", "provisioned"])
def test_snapstart_or_provisioned_concurrency_publish_versions_behind_the_live_alias_the_api_invokes(
    option: str,
) -> None:
    function = properties(option, "ChurnFunction")
    aliases = of_type(option, "AWS::Lambda::Alias")
    assert list(aliases) == ["ChurnFunctionAliaslive"]
    alias = properties(option, "ChurnFunctionAliaslive")
    assert alias["Name"] == "live"
    assert of_type(option, "AWS::Lambda::Version")
    if option == "snapstart":
        assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        assert "ProvisionedConcurrencyConfig" not in alias
    else:
        assert "SnapStart" not in function
        assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": "3"}
    assert environment(option)["EAGER_INIT"] == "true"
    body = properties(option, "ChurnApi")["Body"]
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            if method != "options":
                uri = operation["x-amazon-apigateway-integration"]["uri"]
                assert ALIAS_ARN in uri, (path, method)
    for permission in of_type(option, "AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"] == {"Ref": "ChurnFunctionAliaslive"}


@pytest.mark.parametrize("option", ["existing-endpoint", "serverless", "cognito"])
def test_without_either_the_function_is_invoked_unversioned_and_loads_lazily(option: str) -> None:
    assert not of_type(option, "AWS::Lambda::Alias")
    assert "SnapStart" not in properties(option, "ChurnFunction")
    assert environment(option)["EAGER_INIT"] == "false"


def rule_holds(rule: dict[str, Any], values: dict[str, str]) -> bool:
    """Evaluate a Rules entry made of Fn::Equals and Fn::Not over parameters, as CloudFormation does before creating
    anything; parameters not in `values` take their defaults."""
    values = {name: str(spec.get("Default", "")) for name, spec in load_template()["Parameters"].items()} | values

    def value(expression: Any) -> Any:
        if isinstance(expression, dict) and "Ref" in expression:
            return values[expression["Ref"]]
        if isinstance(expression, dict) and "Fn::Not" in expression:
            return not value(expression["Fn::Not"][0])
        if isinstance(expression, dict) and "Fn::Equals" in expression:
            left, right = (value(e) for e in expression["Fn::Equals"])
            return str(left) == str(right)
        return expression

    return not value(rule.get("RuleCondition", True)) or all(value(a["Assert"]) for a in rule["Assertions"])


@pytest.mark.parametrize(
    ("snapstart", "provisioned", "accepted"),
    [("true", "0", True), ("false", "3", True), ("false", "0", True), ("true", "3", False)],
)
def test_a_rule_refuses_snapstart_together_with_provisioned_concurrency(
    template: dict[str, Any], snapstart: str, provisioned: str, accepted: bool
) -> None:
    values = {"EnableSnapStart": snapstart, "ProvisionedConcurrency": provisioned}
    assert all(rule_holds(rule, values) for rule in template["Rules"].values()) is accepted


@EACH_OPTION
def test_the_stage_writes_access_logs_without_bodies_or_query_strings_to_a_bounded_group(option: str) -> None:
    (stage_id,) = of_type(option, "AWS::ApiGateway::Stage")
    setting = properties(option, stage_id)["AccessLogSetting"]
    assert setting["DestinationArn"] == ACCESS_LOG_GROUP_ARN
    fields = json.loads(setting["Format"])
    variables = set(re.findall(r"\$context\.[A-Za-z.]+", setting["Format"]))
    assert {"$context.requestId", "$context.status", "$context.resourcePath"} <= variables
    # No request data: no body ($input), no URL path or query string, no header values (only the key's id).
    assert not any(v.startswith(("$context.path", "$context.requestOverride")) for v in variables)
    assert "$input" not in setting["Format"] and "querystring" not in setting["Format"].lower()
    assert len(fields) == len(variables)
    assert properties(option, "ChurnApiAccessLogGroup")["RetentionInDays"] == 30


@pytest.mark.parametrize(("option", "creates"), [("serverless", True), ("cognito", False)])
def test_the_account_logging_role_is_created_and_kept_unless_the_account_has_one(option: str, creates: bool) -> None:
    resources = created(option)
    assert ("ApiGatewayAccount" in resources) is creates
    assert ("ApiGatewayLoggingRole" in resources) is creates
    if creates:
        for logical_id in ("ApiGatewayAccount", "ApiGatewayLoggingRole"):
            assert resources[logical_id]["DeletionPolicy"] == "Retain"
        # The stage names the access log group, whose tag names the account setting: so the role comes first.
        tags = properties(option, "ChurnApiAccessLogGroup")["Tags"]
        assert {"Key": "churn-api:logging-role", "Value": "churn-api-account"} in tags
        role = properties(option, "ApiGatewayLoggingRole")
        assert role["ManagedPolicyArns"] == [
            "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
        ]


def test_with_a_user_pool_the_predict_routes_need_its_token_and_nothing_else_does() -> None:
    body = properties("cognito", "ChurnApi")["Body"]
    scheme = body["components"]["securitySchemes"]["CognitoAuthorizer"]
    assert scheme["x-amazon-apigateway-authorizer"] == {"providerARNs": [USER_POOL_ARN], "type": "cognito_user_pools"}
    assert scheme["name"] == "Authorization"
    protected = {
        (path, method)
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
        if {"CognitoAuthorizer": []} in operation.get("security", [])
    }
    assert protected == {("/predict", "post"), ("/predict/batch", "post")}
    # The preflight stays open, and allows the Authorization header.
    for path, methods in body["paths"].items():
        assert "security" not in methods["options"], path
        headers = methods["options"]["responses"]["200"]["headers"]
        assert "Authorization" in json.dumps(body["paths"][path]["options"]), headers


def test_without_a_user_pool_there_is_no_authorizer() -> None:
    body = properties("serverless", "ChurnApi")["Body"]
    assert "securitySchemes" not in body.get("components", {}) or not any(
        "cognito" in json.dumps(s) for s in body["components"]["securitySchemes"].values()
    )


def test_new_parameters_default_to_the_stack_as_it_was() -> None:
    parameters_ = load_template()["Parameters"]
    defaults = {name: str(spec.get("Default")) for name, spec in parameters_.items()}
    assert defaults["ModelDataUrl"] == defaults["TransformSha256"] == defaults["FeatureSignature"] == ""
    assert defaults["EndpointInstanceType"] == defaults["CognitoUserPoolArn"] == ""
    assert (defaults["EnableSnapStart"], defaults["ProvisionedConcurrency"]) == ("false", "0")
    assert resources_of_type(expanded_with("existing-endpoint")[0], "AWS::SageMaker::Endpoint")
    assert "ChurnEndpoint" not in created("existing-endpoint")


@EACH_OPTION
def test_the_local_stack_reads_every_option_and_gives_the_function_the_deployed_environment(option: str) -> None:
    from churn_local.constants import LOCAL_ACCOUNT_ID
    from churn_local.template.provider import Application

    local = Application.from_template(PROJECT_ROOT / "template.yaml", parameters(option), region=REGION)
    deployed = environment(option)
    # The local stack's account stands in for the stack's own (ExpectedBucketOwner).
    expected = {**deployed, "TRANSFORM_BUCKET_OWNER": LOCAL_ACCOUNT_ID}
    assert local.functions["ChurnFunction"].environment == expected


@pytest.mark.parametrize(
    ("name", "accepted", "refused"),
    [
        (
            "ModelDataUrl",
            ["", MODEL_DATA_URL],
            ["https://x/model.tar.gz", "s3://Bucket/k", "s3://bucket/", "s3://b/k*"],
        ),
        ("TransformSha256", ["", "ab" * 32], ["AB" * 32, "ab" * 31, "xyz"]),
        ("FeatureSignature", ["", "0f" * 32], ["0f" * 33]),
        ("EndpointInstanceType", ["", "ml.m5.large", "ml.g4dn.xlarge"], ["m5.large", "ml.m5", "ml.m5.large "]),
        ("CognitoUserPoolArn", ["", USER_POOL_ARN], ["arn:aws:cognito-idp:eu-west-1:1234:userpool/x", "pool"]),
    ],
)
def test_new_string_parameters_accept_what_publish_and_aws_produce_and_refuse_the_rest(
    template: dict[str, Any], name: str, accepted: list[str], refused: list[str]
) -> None:
    pattern = template["Parameters"][name]["AllowedPattern"]
    assert [v for v in accepted if not re.fullmatch(pattern, v)] == []
    assert [v for v in refused if re.fullmatch(pattern, v)] == []
