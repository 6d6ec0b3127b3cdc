"""What each deployment option makes of template.yaml: cfn-lint on every expansion, least privilege, SnapStart or
provisioned concurrency, access logs, the Cognito authorizer and the parameters' defaults and patterns."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs

from churn_local.constants import LOCAL_ACCOUNT_ID, PROJECT_ROOT
from churn_local.template.provider import Application
from tests.template.conftest import (
    FUNCTION_ARN,
    REGION,
    load_template,
    resources_of_type,
)
from tests.template.deployed import (
    BULK_WILDCARDS,
    CAPTURE_OBJECTS,
    EACH_OPTION,
    LOG_GROUP_STREAMS,
    RESOLVED_BY_THE_TRANSFORMS,
    RESOURCELESS_ACTIONS,
    as_deployed,
    created,
    environment,
    grants,
    of_type,
    properties,
    resolved,
    rule_holds,
)
from tests.template.options import (
    ACCESS_LOG_GROUP_ARN,
    ALIAS_ARN,
    MODEL_DATA_URL,
    USER_POOL_ARN,
    expanded_with,
    parameters,
)


@EACH_OPTION
def test_every_option_expands_to_cloudformation_that_cfn_lint_accepts(option: str) -> None:
    config = ManualArgs(regions=[REGION], include_checks=["I"], ignore_checks=RESOLVED_BY_THE_TRANSFORMS)
    matches = lint(json.dumps(as_deployed(option), default=str), config=config)
    assert [str(m) for m in matches] == []


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
