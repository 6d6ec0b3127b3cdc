"""Every use of SAM CLI's Python code, in one module; tests/unit/test_samcli_internals.py checks what each relies on.

SAM CLI documents its commands, not a Python API: each name below is an internal a SAM CLI upgrade may move or
change. The offline expansion (churn_local.template.expansion) and the tests reach SAM CLI through here only (a
test holds that no other module imports `samcli`). Before upgrading aws-sam-cli, run that test file: it fails on the
first assumption the new version breaks, naming it, instead of an expansion coming out subtly different.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import samcli as samcli_package
from samcli.lib.cfn_language_extensions.api import IntrinsicResolverProcessor
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues, TemplateProcessingContext
from samcli.lib.cfn_language_extensions.pipeline import ProcessingPipeline
from samcli.lib.cfn_language_extensions.processors import TemplateParsingProcessor
from samcli.lib.cfn_language_extensions.resolvers import ConditionResolver, FnIfResolver, FnRefResolver, FnSubResolver
from samcli.lib.cfn_language_extensions.resolvers import IntrinsicResolver as LanguageExtensionsResolver
from samcli.lib.cfn_language_extensions.resolvers.fn_sub import PLACEHOLDER_PATTERN
from samcli.lib.config.samconfig import SamConfig
from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
from samcli.lib.providers.api_provider import ApiProvider
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.yamlhelper import yaml_parse

# What the tests use of SAM CLI's own readers, to check what SAM CLI makes of the template and samconfig.toml
# (tests/containers/test_local_template.py, tests/template/test_samconfig.py), and the resolver's type.
__all__ = [
    "ApiProvider",
    "IntrinsicResolver",
    "SamConfig",
    "SamFunctionProvider",
    "SamLocalStackProvider",
    "parse_template",
    "resolve_language_extensions",
    "resolved",
    "runtime_interface_emulator",
    "stack_resolver",
]

# -- Reading a template ------------------------------------------------------------------------------------------


def parse_template(text: str) -> Any:
    """Parse a template's text (YAML or JSON) as SAM CLI does: !Ref, !Sub, !GetAtt a.b... in their long forms."""
    return yaml_parse(text)


# -- AWS::LanguageExtensions: SAM CLI's port of CloudFormation's transform -----------------------------------------


class CompleteSubResolver(FnSubResolver):  # type: ignore[misc]  # samcli ships no type information
    """Resolve an Fn::Sub whose placeholders all name parameters or pseudo parameters; leave the others whole.

    SAM CLI's own Fn::Sub resolver returns a bare string with ${ChurnApi}-style placeholders left in, a shortcut
    for its local commands; CloudFormation keeps such an Fn::Sub for the stack to resolve. It has no hook for
    this: the override uses its private _parse_args, _resolve_variable_map and _resolve_variable.
    """

    def resolve(self, value: dict[str, Any]) -> Any:
        """Return the substituted string, or the Fn::Sub unchanged when a placeholder names a resource."""
        text, variables = self._parse_args(self.get_function_args(value))
        resolved_variables = self._resolve_variable_map(variables)
        names = [match[1] for match in PLACEHOLDER_PATTERN.finditer(text) if not match[1].startswith("!")]
        if any(self._resolve_variable(name, resolved_variables) is None for name in names):
            return value
        return super().resolve(value)


def resolve_language_extensions(
    template: Mapping[str, Any], parameters: Mapping[str, str], *, region: str, account_id: str, stack_name: str
) -> dict[str, Any]:
    """Return a template with its conditions, Fn::If, and Ref and Fn::Sub of parameters resolved, as the transform."""
    pseudo = PseudoParameterValues(region=region, account_id=account_id, stack_name=stack_name, partition="aws")
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


# -- What a deployed stack resolves: the template tests' oracle -----------------------------------------------------


def stack_resolver(template: Mapping[str, Any], names: Mapping[str, Any]) -> IntrinsicResolver:
    """Return SAM CLI's resolver of Ref/Sub/GetAtt/If over a template, with the values these names take.

    `names` holds what CloudFormation knows once the stack exists: parameters, pseudo parameters (AWS::Region...)
    and each created resource's Ref value, or a {"Ref": ..., attribute: ...} map of its GetAtt values.
    """
    symbols = IntrinsicsSymbolTable(template=dict(template), logical_id_translator=dict(names))
    return IntrinsicResolver(template=dict(template), symbol_resolver=symbols)


def resolved(resolver: IntrinsicResolver, value: Any) -> Any:
    """Resolve Ref/Sub/GetAtt/If in a value as CloudFormation would once the stack exists; fail on what it cannot."""
    return resolver.intrinsic_property_resolver(value, ignore_errors=False)


# -- The Lambda runtime interface emulator SAM CLI's package ships ------------------------------------------------


def runtime_interface_emulator(architecture: str = "x86_64") -> Path:
    """Return the runtime interface emulator binary in SAM CLI's package (what `sam local` mounts at /var/rapid):
    the emulator's Lambda image (churn_local.emulator.image) copies it in instead of downloading one."""
    return Path(samcli_package.__file__).parent / "local" / "rapid" / f"aws-lambda-rie-{architecture}"
