"""Template fixtures: template.yaml as SAM reads it, expanded offline by samtranslator, and a real `sam build`."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from samcli.lib.cfn_language_extensions.api import IntrinsicResolverProcessor
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues, TemplateProcessingContext
from samcli.lib.cfn_language_extensions.pipeline import ProcessingPipeline
from samcli.lib.cfn_language_extensions.processors import TemplateParsingProcessor
from samcli.lib.cfn_language_extensions.resolvers import ConditionResolver, FnIfResolver, FnRefResolver, FnSubResolver
from samcli.lib.cfn_language_extensions.resolvers import IntrinsicResolver as LanguageExtensionsResolver
from samcli.lib.cfn_language_extensions.resolvers.fn_sub import PLACEHOLDER_PATTERN
from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

from tests.support import PROJECT_ROOT

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


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Return every parameter's value as CloudFormation passes them to transforms: overrides, else defaults."""
    defaults = {name: str(spec["Default"]) for name, spec in template["Parameters"].items() if "Default" in spec}
    return {**defaults, **overrides}


class CompleteSubResolver(FnSubResolver):
    """Resolve an Fn::Sub whose placeholders all name parameters or pseudo parameters; leave the others whole.

    SAM CLI's own Fn::Sub resolver returns a bare string with ${ChurnApi}-style placeholders left in, a shortcut
    for its local commands; CloudFormation keeps such an Fn::Sub for the stack to resolve.
    """

    def resolve(self, value: dict[str, Any]) -> Any:
        """Return the substituted string, or the Fn::Sub unchanged when a placeholder names a resource."""
        text, variables = self._parse_args(self.get_function_args(value))
        resolved_variables = self._resolve_variable_map(variables)
        names = [match[1] for match in PLACEHOLDER_PATTERN.finditer(text) if not match[1].startswith("!")]
        if any(self._resolve_variable(name, resolved_variables) is None for name in names):
            return value
        return super().resolve(value)


def apply_language_extensions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """Do what AWS::LanguageExtensions does before the SAM transform: resolve conditions, Fn::If, Ref and Fn::Sub.

    SAM CLI's port of CloudFormation's transform does the work, with the resolvers this template needs (see
    CompleteSubResolver for the one replaced).
    """
    pseudo = PseudoParameterValues(region=REGION, account_id=ACCOUNT_ID, stack_name=STACK_NAME, partition="aws")
    context = TemplateProcessingContext(
        fragment=copy.deepcopy(template), parameter_values=dict(parameters), pseudo_parameters=pseudo
    )
    resolver = LanguageExtensionsResolver(context)
    for function in (ConditionResolver, FnIfResolver, FnRefResolver, CompleteSubResolver):
        resolver.register_resolver(function)
    processed: dict[str, Any] = ProcessingPipeline(
        [TemplateParsingProcessor(), IntrinsicResolverProcessor(resolver)]
    ).process_template(context)
    return processed


def expand(overrides: dict[str, str]) -> dict[str, Any]:
    """Return the CloudFormation that CloudFormation's transforms make of template.yaml for these parameters."""
    source = as_packaged(load_template())
    parameters = parameter_values(source, overrides)
    # CloudFormation runs the transforms in the order listed; SAM's comes last.
    transforms = source["Transform"] if isinstance(source["Transform"], list) else [source["Transform"]]
    assert transforms[-1] == "AWS::Serverless-2016-10-31"
    if "AWS::LanguageExtensions" in transforms:
        source = apply_language_extensions(source, parameters)
    with pytest.MonkeyPatch.context() as patch:
        # samtranslator reads the region (for ARNs and the partition) from a default boto3 session.
        patch.delenv("AWS_PROFILE", raising=False)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        result: dict[str, Any] = transform(source, parameters, OfflineManagedPolicyLoader())
    return result


def resolver_for(expanded: dict[str, Any], overrides: dict[str, str]) -> IntrinsicResolver:
    """Return a resolver of Ref/Sub/GetAtt/If as CloudFormation would resolve them once the stack exists."""
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
    }
    symbols = IntrinsicsSymbolTable(template=expanded, logical_id_translator=names)
    return IntrinsicResolver(template=expanded, symbol_resolver=symbols)


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
