"""Template fixtures: template.yaml as SAM reads it, expanded offline by samtranslator, and a real `sam build`."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

from tests.support import PROJECT_ROOT

TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
LAYER_REQUIREMENTS = PROJECT_ROOT / "layer" / "requirements.txt"

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
# Parameter values as `sam deploy` would pass them; none is a default, so wiring to a default cannot pass.
PARAMETERS = {
    "EndpointName": "churn-xgboost-v2",
    "TransformBucket": "churn-api-artifacts-test",
    "TransformKey": "models/2026/transformation.sav",
    "Threshold": "0.42",
    "StageName": "v1",
    "LogLevel": "DEBUG",
}
# What CloudFormation would resolve once the stack exists: pseudo parameters and the ids of created resources.
API_ID = "a1b2c3d4e5"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:churn-api-ChurnFunction-abc"
DEPLOYED_NAMES: dict[str, Any] = {
    **PARAMETERS,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "churn-api",
    "ChurnApi": API_ID,
    "ChurnFunction": {"Arn": FUNCTION_ARN},
}


def sam_env() -> dict[str, str]:
    """Return the environment `make` gives SAM: the venv's python3.13 first on PATH, no telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def load_template() -> dict[str, Any]:
    """Parse template.yaml with SAM CLI's own loader, which turns !Ref/!Sub/!GetAtt into their long forms."""
    template: dict[str, Any] = yaml_parse(TEMPLATE_PATH.read_text(encoding="utf-8"))
    return template


def as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Point local CodeUri/ContentUri at S3, as `sam package`/`sam deploy` do before CloudFormation sees them."""
    packaged = copy.deepcopy(template)
    for logical_id, resource in packaged["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = f"s3://aws-sam-cli-managed-artifacts/churn-api/{logical_id}.zip"
    return packaged


class OfflineManagedPolicyLoader:
    """Stand in for samtranslator's IAM-backed loader: no AWS call, so no credentials needed.

    samtranslator only asks it for managed policies named by name that its bundled map lacks; answering with
    none leaves such a name unresolved, where the IAM assertions see it.
    """

    def load(self) -> dict[str, str]:
        """Return no extra managed policies."""
        return {}


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """Return template.yaml as written."""
    return load_template()


@pytest.fixture(scope="session")
def expanded() -> dict[str, Any]:
    """Return the CloudFormation that the AWS::Serverless-2016-10-31 transform makes of template.yaml."""
    with pytest.MonkeyPatch.context() as patch:
        # samtranslator reads the region (for ARNs and the partition) from a default boto3 session.
        patch.delenv("AWS_PROFILE", raising=False)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        result: dict[str, Any] = transform(as_packaged(load_template()), dict(PARAMETERS), OfflineManagedPolicyLoader())
    return result


@pytest.fixture(scope="session")
def deployed(expanded: dict[str, Any]) -> IntrinsicResolver:
    """Return a resolver of Ref/Sub/GetAtt as CloudFormation would resolve them once the stack exists."""
    symbols = IntrinsicsSymbolTable(template=expanded, logical_id_translator=DEPLOYED_NAMES)
    return IntrinsicResolver(template=expanded, symbol_resolver=symbols)


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Return the resources of one CloudFormation type, by logical id."""
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def pinned_layer_requirements() -> dict[str, str]:
    """Return layer/requirements.txt's `name==version` pins, names normalised as in wheel metadata."""
    pins = {}
    for line in LAYER_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, separator, version = requirement.partition("==")
            assert separator, f"layer/requirements.txt must pin exact versions, found {requirement!r}"
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `sam build` once, as `make build` does, into a temporary folder; return that folder."""
    build_dir = tmp_path_factory.mktemp("sam-build") / "build"
    # --no-cached: a clean build each run, and no .aws-sam/ cache written into the work tree.
    command = [str(VENV_BIN / "sam"), "build", "--no-cached", "--build-dir", str(build_dir)]
    command += ["--template-file", str(TEMPLATE_PATH)]
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=sam_env(), capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"sam build failed ({result.returncode}):\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    return build_dir
