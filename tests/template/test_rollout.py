"""Safe rollout as CloudFormation deploys it: CodeDeploy shifts the alias "live" after the pre-traffic check, and
the alarms roll a version back. Each option is expanded offline as the other template tests do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from churn_api.errors import ERRORS
from churn_local.constants import PROJECT_ROOT
from tests.docs_pages import read, table_lines
from tests.template.conftest import ACCOUNT_ID, FUNCTION_ARN, PARAMETERS, REGION, STACK_NAME, load_template
from tests.template.deployed import (
    created,
    environment,
    of_type,
    properties,
    resolved,
    rule_holds,
)
from tests.template.options import ALARMS, CREATED, OPTIONS, REFERENCE_KEY, REFERENCE_SHA256, expanded_with, parameters

GRADUAL = {"canary": "Canary10Percent5Minutes", "all-at-once": "AllAtOnce"}
DIRECT = [option for option in OPTIONS if option not in GRADUAL]
# The codes the function answers when its version, transformation or model is wrong (not the infrastructure).
WRONG_VERSION_CODES = {"TRANSFORMATION_UNAVAILABLE", "INTERNAL_ERROR", "MODEL_ERROR", "MODEL_BAD_RESPONSE"}
APPLICATION = CREATED["ServerlessDeploymentApplication"]
GROUP = CREATED["ChurnFunctionDeploymentGroup"]


def version_of(option: str) -> str:
    (version_id,) = of_type(option, "AWS::Lambda::Version")
    return version_id


@pytest.mark.parametrize("option", list(GRADUAL))
def test_codedeploy_shifts_the_live_alias_with_the_deployment_type_and_rolls_back_on_alarm(option: str) -> None:
    (application,) = of_type(option, "AWS::CodeDeploy::Application").values()
    assert application["Properties"]["ComputePlatform"] == "Lambda"
    group = properties(option, "ChurnFunctionDeploymentGroup")
    assert group["DeploymentConfigName"] == f"CodeDeployDefault.Lambda{GRADUAL[option]}"
    assert group["DeploymentStyle"] == {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert group["AutoRollbackConfiguration"]["Enabled"] is True
    assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(group["AutoRollbackConfiguration"]["Events"])
    hosted = option == "canary"
    expected = [a for a in ALARMS if hosted or a not in ("ModelLatencyAlarm", "Endpoint5xxAlarm")]
    assert group["AlarmConfiguration"] == {"Enabled": True, "Alarms": [{"Name": CREATED[a]} for a in expected]}
    assert set(expected) <= set(created(option))


@pytest.mark.parametrize("option", list(GRADUAL))
def test_the_alias_waits_for_the_pre_traffic_check_and_the_api_invokes_the_alias(option: str) -> None:
    (alias_id,) = of_type(option, "AWS::Lambda::Alias")
    alias = created(option)[alias_id]
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_of(option), "Version"]}
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"] == {
        "ApplicationName": {"Ref": "ServerlessDeploymentApplication"},
        "DeploymentGroupName": {"Ref": "ChurnFunctionDeploymentGroup"},
        "BeforeAllowTrafficHook": {"Ref": "PreTrafficCheck"},
    }
    for permission in of_type(option, "AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}


def test_snapstart_keeps_snapshotting_each_version_that_the_canary_shifts_to() -> None:
    function = properties("canary", "ChurnFunction")
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert environment("canary")["EAGER_INIT"] == "true"
    # Versions without SnapStart or provisioned concurrency still load lazily, as before.
    assert "SnapStart" not in properties("all-at-once", "ChurnFunction")
    assert environment("all-at-once")["EAGER_INIT"] == "false"


@pytest.mark.parametrize("option", DIRECT)
def test_a_direct_deployment_creates_no_codedeploy_resource_and_no_check(option: str) -> None:
    resources = created(option)
    assert not [k for k, r in resources.items() if r["Type"].startswith("AWS::CodeDeploy::")]
    assert "PreTrafficCheck" not in resources and "CodeDeployServiceRole" not in resources
    for alias in of_type(option, "AWS::Lambda::Alias").values():
        assert "UpdatePolicy" not in alias


@pytest.mark.parametrize("option", list(GRADUAL))
def test_the_pre_traffic_check_is_a_small_function_without_the_layer_named_for_codedeploys_role(option: str) -> None:
    check = properties(option, "PreTrafficCheck")
    template = load_template()["Resources"]["PreTrafficCheck"]["Properties"]
    code = PROJECT_ROOT / template["CodeUri"]
    assert (code / f"{check['Handler'].split('.')[0]}.py").is_file()
    assert not (code / "requirements.txt").exists() or "scikit" not in (code / "requirements.txt").read_text()
    assert "Layers" not in check and check["Runtime"] == "python3.13"
    # AWSCodeDeployRoleForLambda, the role SAM gives CodeDeploy, may invoke only functions named CodeDeployHook_*.
    assert check["FunctionName"] == f"CodeDeployHook_{STACK_NAME}"
    assert len(check["FunctionName"]) <= 64
    assert check["Environment"]["Variables"] == {
        "CHURN_FUNCTION_NAME": FUNCTION_ARN.rsplit(":", 1)[1],
        "CHURN_ALIAS": "live",
        "REFERENCE_BUCKET": PARAMETERS["TransformBucket"],
        "REFERENCE_KEY": REFERENCE_KEY,
        "REFERENCE_SHA256": REFERENCE_SHA256,
        "REFERENCE_BUCKET_OWNER": ACCOUNT_ID,
        "CHURN_THRESHOLD": PARAMETERS["Threshold"],
    }


@pytest.mark.parametrize("option", list(GRADUAL))
def test_the_checks_role_invokes_the_churn_functions_versions_reports_to_its_group_and_reads_one_object(
    option: str,
) -> None:
    role = properties(option, "PreTrafficCheckRole")
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    group_arn = f"arn:aws:codedeploy:{REGION}:{ACCOUNT_ID}:deploymentgroup:{APPLICATION}/{GROUP}"
    grants = sorted(
        (action, statement["Resource"])
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    )
    assert grants == [
        ("codedeploy:GetApplicationRevision", f"arn:aws:codedeploy:{REGION}:{ACCOUNT_ID}:application:{APPLICATION}"),
        ("codedeploy:GetDeployment", group_arn),
        ("codedeploy:PutLifecycleEventHookExecutionStatus", group_arn),
        ("lambda:InvokeFunction", f"{FUNCTION_ARN}:*"),
        ("s3:GetObject", f"arn:aws:s3:::{PARAMETERS['TransformBucket']}/{REFERENCE_KEY}"),
    ]


def metrics_of(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Return an alarm's metrics, whether it watches one metric or a metric math expression."""
    if "Metrics" in alarm:
        return [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    return [{k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions")}]


def dimensions(metric: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in metric["Dimensions"]}


@pytest.mark.parametrize("option", list(OPTIONS))
def test_every_alarm_tells_the_topic_and_the_topic_mails_the_address_given(option: str) -> None:
    topic = CREATED["AlarmTopic"]
    alarms = of_type(option, "AWS::CloudWatch::Alarm")
    assert {"ApiErrorRateAlarm", "ServerErrorsAlarm"} <= set(alarms)
    for alarm_id in alarms:
        alarm = properties(option, alarm_id)
        assert alarm["AlarmActions"] == alarm["OKActions"] == [topic], alarm_id
        assert alarm["TreatMissingData"] == "notBreaching", alarm_id
    subscriptions = [properties(option, k) for k in of_type(option, "AWS::SNS::Subscription")]
    email = parameters(option).get("AlarmEmail", "")
    assert subscriptions == ([{"TopicArn": topic, "Protocol": "email", "Endpoint": email}] if email else [])


def test_the_server_errors_alarm_watches_the_functions_own_metric_for_the_wrong_version_codes() -> None:
    alarm = properties("canary", "ServerErrorsAlarm")
    variables = environment("canary")
    watched = metrics_of(alarm)
    assert {m["Namespace"] for m in watched} == {variables["POWERTOOLS_METRICS_NAMESPACE"]}
    assert {m["MetricName"] for m in watched} == {"Errors"}
    # Powertools' EMF: the ErrorReporter's ErrorCode dimension, and "service" from POWERTOOLS_SERVICE_NAME.
    assert {dimensions(m)["service"] for m in watched} == {variables["POWERTOOLS_SERVICE_NAME"]}
    codes = {dimensions(m)["ErrorCode"] for m in watched}
    assert codes == WRONG_VERSION_CODES
    assert codes <= {e.code for e in ERRORS if e.status >= 500}
    (expression,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert all(f"FILL({m['Id']}, 0)" in expression["Expression"] for m in alarm["Metrics"] if "MetricStat" in m)
    assert alarm["Threshold"] == "3" and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_api_error_rate_alarm_watches_this_apis_stage_in_percent() -> None:
    alarm = properties("canary", "ApiErrorRateAlarm")
    body = properties("canary", "ChurnApi")["Body"]
    for metric in metrics_of(alarm):
        assert metric["Namespace"] == "AWS/ApiGateway"
        assert dimensions(metric) == {"ApiName": body["info"]["title"], "Stage": PARAMETERS["StageName"]}
    assert {m["MetricName"] for m in metrics_of(alarm)} == {"5XXError", "Count"}
    (rate,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert rate["Expression"] == "IF(requests >= 10, 100 * errors / requests, 0)"
    assert alarm["Threshold"] == "5"


@pytest.mark.parametrize("option", list(GRADUAL))
def test_the_version_alarms_watch_the_version_being_shifted_to_through_the_alias(option: str) -> None:
    _, deployed = expanded_with(option)
    function_name = FUNCTION_ARN.rsplit(":", 1)[1]
    new_version = resolved(deployed, {"Fn::GetAtt": [version_of(option), "Version"]})
    for alarm_id, statistic in (("VersionErrorsAlarm", "Statistic"), ("VersionDurationAlarm", "ExtendedStatistic")):
        alarm = properties(option, alarm_id)
        assert (alarm["Namespace"], statistic in alarm) == ("AWS/Lambda", True)
        assert dimensions(alarm) == {
            "FunctionName": function_name,
            "Resource": f"{function_name}:live",
            "ExecutedVersion": new_version,
        }
    assert properties(option, "VersionErrorsAlarm")["Threshold"] == 0
    duration = properties(option, "VersionDurationAlarm")
    assert (duration["ExtendedStatistic"], duration["Threshold"]) == ("p99", "5000")
    # The budget the duration is compared with: the function's timeout, in ms.
    assert int(load_template()["Parameters"]["AlarmP99DurationMs"]["MaxValue"]) == 1000 * int(
        properties(option, "ChurnFunction")["Timeout"]
    )


def test_the_endpoint_alarms_watch_the_hosted_endpoint_with_model_latency_in_microseconds() -> None:
    latency = properties("canary", "ModelLatencyAlarm")
    errors = properties("canary", "Endpoint5xxAlarm")
    for alarm in (latency, errors):
        assert alarm["Namespace"] == "AWS/SageMaker"
        assert dimensions(alarm) == {"EndpointName": PARAMETERS["EndpointName"], "VariantName": "AllTraffic"}
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        "ModelLatency",
        "p99",
        "1000000",
    )
    assert (errors["MetricName"], errors["Threshold"]) == ("Invocation5XXErrors", "3")
    variant = properties("canary", "ChurnEndpointConfig")["ProductionVariants"][0]["VariantName"]
    assert variant == "AllTraffic"
    assert "ModelLatencyAlarm" not in created("all-at-once")


@pytest.mark.parametrize("option", list(OPTIONS))
def test_a_new_model_is_a_new_version_published_after_the_endpoint_serves_it(option: str) -> None:
    assert environment(option)["MODEL_DATA_URL"] == parameters(option).get("ModelDataUrl", "")
    tags = {t["Key"]: t["Value"] for t in properties(option, "ChurnFunction")["Tags"]}
    hosted = "ChurnEndpoint" in created(option)
    assert tags["churn-api:model-endpoint"] == (PARAMETERS["EndpointName"] if hosted else "external")
    written = created(option)["ChurnFunction"]["Properties"]["Tags"]
    if hosted:
        assert {
            "Key": "churn-api:model-endpoint",
            "Value": {"Fn::GetAtt": ["ChurnEndpoint", "EndpointName"]},
        } in written


@pytest.mark.parametrize(
    ("deployment_type", "reference_key", "accepted"),
    [("Direct", "", True), ("Canary10Percent5Minutes", REFERENCE_KEY, True), ("AllAtOnce", "", False)],
)
def test_a_rule_refuses_a_gradual_deployment_without_the_reference_cases(
    deployment_type: str, reference_key: str, accepted: bool
) -> None:
    rule = load_template()["Rules"]["GradualDeploymentNeedsTheReferenceCases"]
    assert rule_holds(rule, {"DeploymentType": deployment_type, "ReferenceKey": reference_key}) is accepted


def test_the_built_check_is_its_one_module_without_the_layer_or_any_dependency(sam_build: Path) -> None:
    built = sam_build / "PreTrafficCheck"
    files = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert files == {"pre_traffic.py"}


def test_the_documented_alarm_table_states_the_templates_defaults() -> None:
    table = "\n".join(table_lines(read("docs/deploy.md"), "| Alarm | Watches |"))
    stated = dict(re.findall(r"`(Alarm[A-Za-z0-9]+)=([0-9.]+)`", table))
    defaults = {name: str(spec.get("Default")) for name, spec in load_template()["Parameters"].items()}
    assert stated and all(defaults[name] == value for name, value in stated.items())
    assert set(stated) == {name for name in defaults if name.startswith("Alarm") and name != "AlarmEmail"}
