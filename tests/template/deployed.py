"""Read one deployment option's expansion as CloudFormation deploys it: what is created, its properties, its grants."""

from __future__ import annotations

import re
from typing import Any

import pytest

from churn_local.template.samcli import resolved
from tests.template.conftest import PARAMETERS, load_template
from tests.template.options import OPTIONS, expanded_with

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

EACH_OPTION = pytest.mark.parametrize("option", list(OPTIONS))


def created(option: str) -> dict[str, dict[str, Any]]:
    """Return the resources CloudFormation creates for one option (conditions applied), by logical id."""
    expanded, deployed = expanded_with(option)
    return {
        logical_id: resource
        for logical_id, resource in expanded["Resources"].items()
        if "Condition" not in resource or resolved(deployed, {"Fn::If": [resource["Condition"], True, False]}) is True
    }


def of_type(option: str, resource_type: str) -> dict[str, dict[str, Any]]:
    """Return the resources of one type that an option creates."""
    return {k: r for k, r in created(option).items() if r["Type"] == resource_type}


def properties(option: str, logical_id: str) -> Any:
    """Return one created resource's properties, resolved."""
    _, deployed = expanded_with(option)
    return resolved(deployed, created(option)[logical_id]["Properties"])


def environment(option: str) -> dict[str, str]:
    """Return the API function's variables, resolved."""
    variables: dict[str, str] = properties(option, "ChurnFunction")["Environment"]["Variables"]
    return variables


def grants(statements: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Return every (action, resource) pair that IAM statements allow, sorted."""
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
