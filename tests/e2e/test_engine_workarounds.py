"""Each thing done for the emulator outside template.yaml (churn_local.emulator.template) is still needed there.

These ask the engine itself, with the raw form: the day one of them passes, the engine has learned it, and the
matching step in churn_local.emulator.template (and this test) goes. Only where the suite runs its own emulator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from churn_local.template import expansion
from tests.e2e.conftest import OwnStacks


@pytest.fixture(scope="module")
def cloudformation(own_stacks: OwnStacks | None) -> Iterator[Any]:
    """Return the emulator's CloudFormation; skip where the suite runs against a named stack or a URL."""
    if own_stacks is None:
        pytest.skip("only the emulator needs the workarounds: this run names its own target")
    yield own_stacks.emulated.client("cloudformation")


def outcome(cloudformation: Any, name: str, template: dict[str, Any], parameters: dict[str, str]) -> str:
    """Create a stack of the template; return how it ended (its status and reason, or the refusal)."""
    given = [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()]
    try:
        cloudformation.create_stack(
            StackName=name, TemplateBody=json.dumps(template), Parameters=given, Capabilities=["CAPABILITY_IAM"]
        )
    except cloudformation.exceptions.ClientError as exc:
        return f"refused: {exc}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
            reasons = " | ".join(e.get("ResourceStatusReason", "") for e in events if "FAILED" in e["ResourceStatus"])
            cloudformation.delete_stack(StackName=name)
            return f"{stack['StackStatus']}: {stack.get('StackStatusReason', '')} {reasons}"
        time.sleep(0.5)
    return "still in progress after 120 s"


def test_the_raw_template_is_refused_before_the_sam_transform(cloudformation: Any, own_stacks: OwnStacks) -> None:
    # GIVEN the built template as written (AWS::LanguageExtensions declared), packaged as sam deploy sends it
    built = expansion.as_packaged(expansion.load_template(own_stacks.build_dir / "template.yaml"), own_stacks.build_dir)
    parameters = {"EndpointName": "churn-xgboost", "TransformBucket": "churn-api-emulated"}
    # THEN the engine fails it: it resolves no Fn::If before SAM's transform
    result = outcome(cloudformation, "e2e-raw-template", built, parameters)
    assert result.startswith(("refused", "ROLLBACK", "CREATE_FAILED")), result
    assert "AutoPublishAlias" in result or "Fn::If" in result, result


def test_a_metric_math_alarm_is_refused(cloudformation: Any) -> None:
    # GIVEN an alarm computed from two metrics (the template's ApiErrorRateAlarm's shape)
    metric = {"Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": []}
    math = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 5,
            "EvaluationPeriods": 1,
            "Metrics": [
                {"Id": "requests", "ReturnData": False, "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}},
                {"Id": "rate", "Expression": "100 * requests", "ReturnData": True},
            ],
        },
    }
    # THEN the engine refuses it
    result = outcome(cloudformation, "e2e-metric-math", {"Resources": {"Alarm": math}}, {})
    assert not result.startswith("CREATE_COMPLETE"), result
