"""template.yaml passes SAM's and CloudFormation's linters offline, and its parameters reject bad values."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.helpers import REGIONS

from churn_api.config import Settings
from tests.template.conftest import TEMPLATE_PATH, VENV_BIN, sam_env

# SageMaker's own EndpointName pattern (API reference: CreateEndpoint / InvokeEndpoint).
# Regions where cfn-lint's CloudFormation schemas have no AWS::SageMaker::Model/EndpointConfig/Endpoint.
REGIONS_WITHOUT_SAGEMAKER_RESOURCES = ("me-central-1", "us-gov-east-1")
SAGEMAKER_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def cloudformation_accepts(parameter: dict[str, Any], value: str) -> bool:
    """Apply a String parameter's constraints the way CloudFormation does before it creates anything."""
    pattern = parameter.get("AllowedPattern")
    return (
        (pattern is None or re.fullmatch(pattern, value) is not None)
        and len(value) >= parameter.get("MinLength", 0)
        and len(value) <= parameter.get("MaxLength", len(value))
    )


def test_sam_validate_with_lint_accepts_the_template() -> None:
    """Run `sam validate --lint` as `make validate` does: no credentials, no network."""
    result = subprocess.run(
        [str(VENV_BIN / "sam"), "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE_PATH)],
        env=sam_env(),
        cwd=TEMPLATE_PATH.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_cfn_lint_finds_nothing_in_any_region_even_informational() -> None:
    """Lint in every region cfn-lint knows, informational checks included."""
    # I4010 asks for an architecture "Context" metadata block, a convention this project does not use.
    config = ManualArgs(regions=list(REGIONS), include_checks=["I"], ignore_checks=["I4010"])
    matches = lint(TEMPLATE_PATH.read_text(encoding="utf-8"), config=config)
    # Only where CloudFormation has no SageMaker resource types (cfn-lint's region schemas): the stack cannot host
    # the model there (ModelDataUrl must stay empty), docs/deploy.md says so, and nothing else may be reported.
    unhosted = re.compile(r"E3006.*'AWS::SageMaker::\w+' does not exist in '(me-central-1|us-gov-east-1)'")
    assert [str(match) for match in matches if not unhosted.search(str(match))] == []
    assert {unhosted.search(str(m))[1] for m in matches} <= set(REGIONS_WITHOUT_SAGEMAKER_RESOURCES)  # type: ignore[index]


@pytest.mark.parametrize("name", ["churn-xgboost", "churn-xgboost-v2", "x", "a--b", "a" * 63])
def test_endpoint_name_parameter_accepts_lowercase_sagemaker_names(template: dict[str, Any], name: str) -> None:
    """Accept every lowercase name SageMaker accepts."""
    assert SAGEMAKER_ENDPOINT_NAME.fullmatch(name)
    assert cloudformation_accepts(template["Parameters"]["EndpointName"], name)


@pytest.mark.parametrize(
    "name", ["Churn-XGBoost", "churn-XGBOOST", "churn_xgboost", "-churn", "churn-", "a" * 64, "a" + "-" * 62 + "b", ""]
)
def test_endpoint_name_parameter_rejects_names_iam_could_not_match(template: dict[str, Any], name: str) -> None:
    """Reject mixed case (SageMaker lowercases the name in the endpoint's ARN) and names SageMaker refuses."""
    assert not cloudformation_accepts(template["Parameters"]["EndpointName"], name)


def test_threshold_parameter_is_a_probability_the_function_always_receives(template: dict[str, Any]) -> None:
    """Bound the threshold to [0, 1] with a default: the template owns it, the function requires THRESHOLD."""
    threshold = template["Parameters"]["Threshold"]
    assert threshold["Type"] == "Number"
    assert (threshold["MinValue"], threshold["MaxValue"]) == (0, 1)
    assert 0 <= float(threshold["Default"]) <= 1
    variables = template["Resources"]["ChurnFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["THRESHOLD"] == {"Ref": "Threshold"}


@pytest.mark.parametrize("name", ["EndpointName", "TransformBucket"])
def test_deployment_specific_parameters_have_no_default(template: dict[str, Any], name: str) -> None:
    """Make `sam deploy --guided` ask for the endpoint and the bucket instead of guessing them."""
    assert "Default" not in template["Parameters"][name]


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:3000", "https://app.example.com", "https://churn.example.co.uk:8443", "http://127.0.0.1:5173"],
)
def test_cors_origin_parameter_accepts_http_origins_that_the_function_accepts_too(
    template: dict[str, Any], origin: str
) -> None:
    """Accept one scheme://host[:port] origin, which the function's config must take as it is."""
    assert cloudformation_accepts(template["Parameters"]["CorsAllowOrigin"], origin)
    environment = {
        "ENDPOINT_NAME": "e",
        "TRANSFORM_BUCKET": "b",
        "TRANSFORM_KEY": "k",
        "THRESHOLD": str(template["Parameters"]["Threshold"]["Default"]),
        "CORS_ALLOW_ORIGINS": origin,
    }
    assert Settings.from_env(environment).cors_allow_origins == (origin,)


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://*.example.com",
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/page",
        "ftp://app.example.com",
        "https://app.example.com,https://evil.example",
        "https://app.example.com'",
        "https://app.example.com ",
        "",
    ],
)
def test_cors_origin_parameter_rejects_wildcards_lists_paths_and_quotes(template: dict[str, Any], origin: str) -> None:
    """Reject anything but one origin: API Gateway quotes it into header mappings, and `*` would admit any site."""
    assert not cloudformation_accepts(template["Parameters"]["CorsAllowOrigin"], origin)


def test_cors_origin_defaults_to_the_local_demo_page_never_a_wildcard(template: dict[str, Any]) -> None:
    """Default to the local stack's origin, which the pattern itself must accept."""
    parameter = template["Parameters"]["CorsAllowOrigin"]
    assert parameter["Default"] == "http://localhost:3000"
    assert cloudformation_accepts(parameter, parameter["Default"])


@pytest.mark.parametrize("name", ["RequireApiKey", "EnableSwagger"])
def test_switch_parameters_take_true_or_false_and_default_to_false(template: dict[str, Any], name: str) -> None:
    """Offer exactly "true"/"false" (conditions and the function compare those strings), off by default."""
    parameter = template["Parameters"][name]
    assert parameter["Type"] == "String"
    assert sorted(parameter["AllowedValues"]) == ["false", "true"]
    assert parameter["Default"] == "false"


def test_throttling_and_quota_parameters_default_to_10_per_second_burst_20_and_10000_a_day(
    template: dict[str, Any],
) -> None:
    """Default the usage limits as documented, with a quota period API Gateway accepts."""
    parameters = template["Parameters"]
    defaults = {name: float(parameters[name]["Default"]) for name in ("ThrottleRateLimit", "ThrottleBurstLimit")}
    assert defaults == {"ThrottleRateLimit": 10, "ThrottleBurstLimit": 20}
    assert int(parameters["QuotaLimit"]["Default"]) == 10000
    assert parameters["QuotaPeriod"]["Default"] == "DAY"
    # AWS::ApiGateway::UsagePlan QuotaSettings.Period.
    assert sorted(parameters["QuotaPeriod"]["AllowedValues"]) == ["DAY", "MONTH", "WEEK"]
    for name in ("ThrottleRateLimit", "ThrottleBurstLimit", "QuotaLimit"):
        assert parameters[name]["Type"] == "Number"
        assert parameters[name]["MinValue"] >= 1, name
