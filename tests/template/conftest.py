"""Template fixtures: template.yaml as SAM reads it, expanded offline by samtranslator, and a real `sam build`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.template import expansion
from churn_local.template.expansion import as_packaged, parameter_values
from churn_local.template.samcli import IntrinsicResolver, stack_resolver

TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
LAYER_REQUIREMENTS = PROJECT_ROOT / "layer" / "requirements.txt"
FUNCTION_REQUIREMENTS = PROJECT_ROOT / "src" / "requirements.txt"
CONSTRAINTS = PROJECT_ROOT / "constraints.txt"

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "churn-api"
# Parameter values as `sam deploy` would pass them; none is a default, so wiring to a default cannot pass.
PARAMETERS = {
    "EndpointName": "churn-xgboost-v2",
    "TransformBucket": "churn-api-artifacts-test",
    "TransformKey": "models/2026/transformation.sav",
    "Threshold": "0.42",
    "StageName": "v1",
    "LogLevel": "DEBUG",
    "CorsAllowOrigin": "https://app.example.com",
    "RequireApiKey": "true",
    "ThrottleRateLimit": "25",
    "ThrottleBurstLimit": "50",
    "QuotaLimit": "5000",
    "QuotaPeriod": "WEEK",
    "EnableSwagger": "true",
}
# The same deployment with API keys off (RequireApiKey's default), for what must differ between the two.
PARAMETERS_WITHOUT_KEYS = {**PARAMETERS, "RequireApiKey": "false"}
# What CloudFormation would resolve once the stack exists: pseudo parameters and the ids of created resources.
API_ID = "a1b2c3d4e5"
API_KEY_ID = "k9y8x7w6v5"
USAGE_PLAN_ID = "u1p2l3"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:churn-api-ChurnFunction-abc"


def sam_env() -> dict[str, str]:
    """Return the environment `make` gives SAM: the venv's python3.13 first on PATH, no telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def load_template() -> dict[str, Any]:
    """Parse template.yaml with SAM CLI's own loader, which turns !Ref/!Sub/!GetAtt into their long forms."""
    return expansion.load_template(TEMPLATE_PATH)


def expand(overrides: dict[str, str]) -> dict[str, Any]:
    """Return the CloudFormation that CloudFormation's transforms make of template.yaml for these parameters."""
    source = as_packaged(load_template(), TEMPLATE_PATH.parent)
    return expansion.expand(source, overrides, expansion.Deployment(REGION, ACCOUNT_ID, STACK_NAME))


def resolver_for(
    expanded: dict[str, Any], overrides: dict[str, str], created: Mapping[str, Any] | None = None
) -> IntrinsicResolver:
    """Return a resolver of Ref/Sub/GetAtt/If as CloudFormation would resolve them once the stack exists.

    `created` adds the values of resources beyond the API's, by logical id (tests/template/options.py's CREATED).
    """
    stage = resources_of_type(expanded, "AWS::ApiGateway::Stage")
    names: dict[str, Any] = {
        **parameter_values(load_template(), overrides),
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": STACK_NAME,
        "ChurnApi": API_ID,
        "ChurnFunction": {"Arn": FUNCTION_ARN},
        "ChurnApiKey": API_KEY_ID,
        "ChurnUsagePlan": USAGE_PLAN_ID,
        # Ref of an AWS::ApiGateway::Stage is the stage's name.
        **{logical_id: res["Properties"]["StageName"] for logical_id, res in stage.items()},
        **(created or {}),
    }
    return stack_resolver(expanded, names)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """Return template.yaml as written."""
    return load_template()


@pytest.fixture(scope="session")
def expanded() -> dict[str, Any]:
    """Return the CloudFormation made of template.yaml with PARAMETERS (API keys on)."""
    return expand(PARAMETERS)


@pytest.fixture(scope="session")
def deployed(expanded: dict[str, Any]) -> IntrinsicResolver:
    """Return a resolver for the stack deployed with PARAMETERS."""
    return resolver_for(expanded, PARAMETERS)


@pytest.fixture(scope="session")
def expanded_without_keys() -> dict[str, Any]:
    """Return the CloudFormation made of template.yaml with PARAMETERS_WITHOUT_KEYS."""
    return expand(PARAMETERS_WITHOUT_KEYS)


@pytest.fixture(scope="session")
def deployed_without_keys(expanded_without_keys: dict[str, Any]) -> IntrinsicResolver:
    """Return a resolver for the stack deployed with PARAMETERS_WITHOUT_KEYS."""
    return resolver_for(expanded_without_keys, PARAMETERS_WITHOUT_KEYS)


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Return the resources of one CloudFormation type, by logical id."""
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def pinned_requirements(path: Path) -> dict[str, str]:
    """Return a requirements file's `name==version` pins, names normalised as in wheel metadata."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, separator, version = requirement.partition("==")
            assert separator, f"{path.name} must pin exact versions, found {requirement!r}"
            pins[normalized(name)] = version.strip()
    return pins


def normalized(name: str) -> str:
    """Normalise a distribution name as PEP 503 does (case, and runs of -_. as one -)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()
