"""What SAM CLI reads of the template for sam local, without containers: every variable resolved, the API readable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.containers import sam_local
from churn_local.template import expansion
from churn_local.template.expansion import default_threshold
from churn_local.template.samcli import ApiProvider, SamFunctionProvider, SamLocalStackProvider

TEMPLATE = PROJECT_ROOT / "template.yaml"
ENDPOINT_VARIABLES = {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ENDPOINT_URL_SAGEMAKER"}
# SAM CLI's own providers call APIs that samtranslator and jsonschema deprecate (SAM CLI 1.170).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PARAMETERS = {
    "EndpointName": "churn-xgboost",
    "TransformBucket": "churn-api-local",
    "TransformKey": "churn-api/x/t.sav",
}


def sam_cli_variables(template: Path, parameters: dict[str, str]) -> dict[str, Any]:
    """Return ChurnFunction's environment as SAM CLI's local commands resolve it."""
    stacks, _ = SamLocalStackProvider.get_stacks(str(template), parameter_overrides=parameters)
    function = SamFunctionProvider(stacks).get(sam_local.FUNCTION)
    assert function is not None and isinstance(function.environment, dict)
    return dict(function.environment["Variables"])


def test_sam_cli_resolves_the_threshold_from_the_number_parameter() -> None:
    # GIVEN template.yaml as `sam local invoke` reads it, with no Threshold override
    variables = sam_cli_variables(TEMPLATE, PARAMETERS)
    # THEN THRESHOLD is the parameter's default as a string (an unquoted 0.39 stayed an unresolved Ref: empty)
    assert variables["THRESHOLD"] == str(default_threshold()) == "0.39"
    # AND every other variable is a plain string, but the endpoint ones, which are unset until --env-vars sets them
    unresolved = {name for name, value in variables.items() if not isinstance(value, str)}
    assert unresolved == ENDPOINT_VARIABLES


def test_the_endpoint_variables_are_absent_once_deployed(expanded_function: dict[str, Any]) -> None:
    # GIVEN the function as CloudFormation creates it (AWS::LanguageExtensions, then SAM)
    variables = expanded_function["Properties"]["Environment"]["Variables"]
    # THEN none of the local endpoint variables reaches Lambda
    assert not ENDPOINT_VARIABLES & set(variables)


@pytest.fixture(scope="module")
def expanded_function() -> dict[str, Any]:
    """Return ChurnFunction as CloudFormation's transforms make it."""

    expanded = expansion.expand(expansion.as_packaged(expansion.load_template(TEMPLATE), TEMPLATE.parent), PARAMETERS)
    return dict(expanded["Resources"][sam_local.FUNCTION])


def test_sam_cli_cannot_read_the_apis_auth_as_written() -> None:
    # GIVEN the template as written: the Cognito authorizer is an Fn::If whose other branch is AWS::NoValue
    stacks, _ = SamLocalStackProvider.get_stacks(str(TEMPLATE), parameter_overrides=PARAMETERS)
    # THEN SAM CLI's API provider fails on it (why sam_local writes a resolved template); if this starts passing,
    # SAM CLI has learnt to, and the workaround can go
    with pytest.raises(AttributeError):
        ApiProvider(stacks)


def test_the_local_template_gives_sam_cli_every_route_and_keeps_the_endpoint_variables(tmp_path: Path) -> None:
    # GIVEN the template resolved as AWS::LanguageExtensions does before SAM
    local = sam_local.local_template(TEMPLATE, PARAMETERS, tmp_path / "template.sam-local.json")
    # WHEN SAM CLI reads its routes and the function's variables
    stacks, _ = SamLocalStackProvider.get_stacks(str(local), parameter_overrides=PARAMETERS)
    routes = {(method, route.path) for route in ApiProvider(stacks).routes for method in route.methods}
    variables = sam_cli_variables(local, PARAMETERS)
    # THEN every route of the API is there, and the endpoint variables are declared (empty) for --env-vars to set
    assert {("POST", "/predict"), ("POST", "/predict/batch"), ("GET", "/health"), ("GET", "/health/ready")} <= routes
    assert {name: variables[name] for name in ENDPOINT_VARIABLES} == dict.fromkeys(ENDPOINT_VARIABLES, "")
    assert variables["TRANSFORM_KEY"] == PARAMETERS["TransformKey"] and variables["THRESHOLD"] == "0.39"
