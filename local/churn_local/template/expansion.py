"""Expand template.yaml offline the way CloudFormation does: AWS::LanguageExtensions, then the SAM transform.

The one expansion used by the local API (which reads SAM's own decisions from its output) and by the tests.
The language extensions run with SAM CLI's port of CloudFormation's transform (`samcli.lib.cfn_language_extensions`)
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

from samcli.lib.cfn_language_extensions.api import IntrinsicResolverProcessor
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues, TemplateProcessingContext
from samcli.lib.cfn_language_extensions.pipeline import ProcessingPipeline
from samcli.lib.cfn_language_extensions.processors import TemplateParsingProcessor
from samcli.lib.cfn_language_extensions.resolvers import ConditionResolver, FnIfResolver, FnRefResolver, FnSubResolver
from samcli.lib.cfn_language_extensions.resolvers import IntrinsicResolver as LanguageExtensionsResolver
from samcli.lib.cfn_language_extensions.resolvers.fn_sub import PLACEHOLDER_PATTERN
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

from churn_local.constants import LOCAL_ACCOUNT_ID, LOCAL_REGION, LOCAL_STACK_NAME, TEMPLATE

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """Parse a template with SAM CLI's own loader, which turns !Ref/!Sub/!GetAtt into their long forms."""
    template: dict[str, Any] = yaml_parse(Path(path).read_text(encoding="utf-8"))
    return template


def default_threshold(path: Path = TEMPLATE) -> float:
    """Return the Threshold parameter's default: template.yaml is the one place the default threshold lives."""
    return float(load_template(path)["Parameters"]["Threshold"]["Default"])


def as_packaged(template: Mapping[str, Any]) -> dict[str, Any]:
    """Point local CodeUri/ContentUri at S3, as `sam package`/`sam deploy` do before CloudFormation sees them."""
    packaged = copy.deepcopy(dict(template))
    for logical_id, resource in packaged["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = f"s3://aws-sam-cli-managed-artifacts/churn-api/{logical_id}.zip"
    return packaged


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


class CompleteSubResolver(FnSubResolver):  # type: ignore[misc]  # SAM CLI ships no type information
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
    pseudo = PseudoParameterValues(
        region=where.region, account_id=where.account_id, stack_name=where.stack_name, partition="aws"
    )
    context = TemplateProcessingContext(
        fragment=copy.deepcopy(dict(template)), parameter_values=dict(parameters), pseudo_parameters=pseudo
    )
    resolver = LanguageExtensionsResolver(context)
    for function in (ConditionResolver, FnIfResolver, FnRefResolver, CompleteSubResolver):
        resolver.register_resolver(function)
    processed: dict[str, Any] = ProcessingPipeline(
        [TemplateParsingProcessor(), IntrinsicResolverProcessor(resolver)]
    ).process_template(context)
    return processed


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
