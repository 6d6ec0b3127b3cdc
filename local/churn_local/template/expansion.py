"""Expand template.yaml offline the way CloudFormation does: AWS::LanguageExtensions, then the SAM transform.

The one expansion used by the local API (which reads SAM's own decisions from its output) and by the tests.
The language extensions run with SAM CLI's port of CloudFormation's transform (through churn_local.template.samcli)
and the SAM transform with samtranslator itself, with no AWS call: managed policies named by name resolve to
nothing (see OfflineManagedPolicyLoader) and the region comes from the argument, not from a boto3 session.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform

from churn_local.constants import LOCAL_ACCOUNT_ID, LOCAL_REGION, LOCAL_STACK_NAME, TEMPLATE
from churn_local.template.samcli import parse_template, resolve_language_extensions

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
STATE_MACHINE = "AWS::Serverless::StateMachine"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """Parse a template with SAM CLI's own loader, which turns !Ref/!Sub/!GetAtt into their long forms."""
    template: dict[str, Any] = parse_template(Path(path).read_text(encoding="utf-8"))
    return template


def default_threshold(path: Path = TEMPLATE) -> float:
    """Return the Threshold parameter's default: template.yaml is the one place the default threshold lives."""
    return float(load_template(path)["Parameters"]["Threshold"]["Default"])


def as_packaged(template: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """Hand CloudFormation what `sam package`/`sam deploy` hand it for a template in base_dir: no local path left.

    Local CodeUri/ContentUri point at S3, as once uploaded. A state machine's local DefinitionUri is read in as its
    Definition: `sam package` uploads the file and the SAM transform hands it on as DefinitionS3Location, which
    Step Functions' resource reads with the same DefinitionSubstitutions; offline there is no bucket to read it
    from, and the definition then stays visible in the expansion.
    """
    packaged = copy.deepcopy(dict(template))
    for logical_id, resource in packaged["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if _is_local(properties.get(key)):
                properties[key] = f"s3://aws-sam-cli-managed-artifacts/churn-api/{logical_id}.zip"
        definition_uri = properties.get("DefinitionUri")
        # With both, the SAM transform refuses the resource, as it should: leave them for it to say so.
        if resource.get("Type") == STATE_MACHINE and _is_local(definition_uri) and "Definition" not in properties:
            properties["Definition"] = read_definition(base_dir / properties.pop("DefinitionUri"))
    return packaged


def _is_local(uri: Any) -> bool:
    # An S3 location is an s3:// URI or a {Bucket, Key} map; any other string is a path, relative to the template.
    return isinstance(uri, str) and not uri.startswith("s3://")


def read_definition(path: Path) -> dict[str, Any]:
    """Return a state machine definition file (JSON or YAML, as Step Functions reads either) as a mapping.

    CloudFormation makes only the DefinitionSubstitutions in a file it reads from S3, no intrinsic function; an
    inline Definition's intrinsics the SAM transform would resolve. A file with one is refused, so that the
    expansion never resolves what a deployment would not.
    """
    definition = parse_template(path.read_text(encoding="utf-8"))
    if not isinstance(definition, dict):
        raise ValueError(f"{path}: a state machine definition is a JSON object")
    intrinsic = next(_intrinsic_functions(definition), None)
    if intrinsic is not None:
        raise ValueError(
            f"{path}: {intrinsic} is an intrinsic function, which CloudFormation does not resolve in a definition "
            "file; pass the value in DefinitionSubstitutions and write ${Name} where it goes"
        )
    return definition


def _intrinsic_functions(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" or str(key).startswith("Fn::"):
                yield str(key)
            yield from _intrinsic_functions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _intrinsic_functions(item)


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Return every parameter's value as CloudFormation passes them to transforms: overrides, else defaults."""
    specs = template.get("Parameters") or {}
    defaults = {name: _cfn_string(spec["Default"]) for name, spec in specs.items() if "Default" in spec}
    return {**defaults, **{name: str(value) for name, value in overrides.items()}}


def _cfn_string(value: Any) -> str:
    # CloudFormation passes parameter values on as strings, booleans lower-case.
    return str(value).lower() if isinstance(value, bool) else str(value)


class OfflineManagedPolicyLoader:
    """Stand in for samtranslator's IAM-backed loader: no AWS call, so no credentials needed.

    samtranslator only asks it for managed policies named by name that its bundled map lacks; answering with
    none leaves such a name unresolved, where the IAM assertions see it.
    """

    def load(self) -> dict[str, str]:
        """Return no extra managed policies."""
        return {}


@dataclass(frozen=True)
class Deployment:
    """Where the stack is deployed: the pseudo parameters the transforms see."""

    region: str = LOCAL_REGION
    account_id: str = LOCAL_ACCOUNT_ID
    stack_name: str = LOCAL_STACK_NAME


LOCAL = Deployment()


def apply_language_extensions(
    template: Mapping[str, Any], parameters: Mapping[str, str], where: Deployment = LOCAL
) -> dict[str, Any]:
    """Do what AWS::LanguageExtensions does before the SAM transform: resolve conditions, Fn::If, Ref and Fn::Sub."""
    return resolve_language_extensions(
        template, parameters, region=where.region, account_id=where.account_id, stack_name=where.stack_name
    )


@contextmanager
def _region_for_samtranslator(region: str) -> Iterator[None]:
    # samtranslator reads the region (for ARNs and the partition) from a default boto3 session.
    saved = {name: os.environ.get(name) for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION")}
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def expand(source: Mapping[str, Any], overrides: Mapping[str, str], where: Deployment = LOCAL) -> dict[str, Any]:
    """Return the CloudFormation that CloudFormation's transforms make of a (packaged) template for these values."""
    parameters = parameter_values(source, overrides)
    transforms = source.get("Transform")
    transforms = transforms if isinstance(transforms, list) else [transforms]
    # CloudFormation runs the transforms in the order listed; SAM's comes last.
    if transforms[-1] != SAM_TRANSFORM:
        raise ValueError(f"the template's last transform must be {SAM_TRANSFORM}")
    template = dict(source)
    if LANGUAGE_EXTENSIONS in transforms:
        template = apply_language_extensions(template, parameters, where)
    with _region_for_samtranslator(where.region):
        result: dict[str, Any] = transform(copy.deepcopy(template), parameters, OfflineManagedPolicyLoader())
    return result
