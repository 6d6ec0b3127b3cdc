"""What churn_local.template.samcli assumes of SAM CLI's Python code: run first when upgrading aws-sam-cli.

Each test names the assumption it checks, so that an upgrade that breaks one fails here, loudly, before the offline
expansion or a template test comes out subtly different. The last test holds the fence: no other module of src/,
local/, benchmarks/, hooks/ or tests/ imports `samcli`.
"""

from __future__ import annotations

import ast
import copy
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.template import samcli

FENCE = PROJECT_ROOT / "local" / "churn_local" / "template" / "samcli.py"
FOLDERS = ("src", "local", "benchmarks", "hooks", "tests")
TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: v1}
  Owner: {Type: String, Default: ""}
Conditions:
  HasOwner: !Not [!Equals [!Ref Owner, ""]]
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub ${AWS::StackName}-${Stage}
      DisplayName: !If [HasOwner, !Ref Owner, !Ref AWS::NoValue]
      Tags:
        - {Key: of-a-resource, Value: !Sub "${Queue.Arn}/${Stage}"}
        - {Key: ref, Value: !Ref Queue}
        - {Key: attribute, Value: !GetAtt Queue.Arn}
        - {Key: escaped, Value: !Sub "${!Literal}-${Stage}"}
  Queue:
    Type: AWS::SQS::Queue
"""


def parsed() -> dict[str, Any]:
    template: dict[str, Any] = samcli.parse_template(TEMPLATE)
    return template


def extended(**parameters: str) -> dict[str, Any]:
    return samcli.resolve_language_extensions(
        parsed(), parameters, region="eu-west-1", account_id="123456789012", stack_name="churn"
    )


def tags(template: dict[str, Any]) -> dict[str, Any]:
    return {tag["Key"]: tag["Value"] for tag in template["Resources"]["Topic"]["Properties"]["Tags"]}


# -- Reading a template ------------------------------------------------------------------------------------------


def test_the_parser_writes_the_short_forms_long_as_cloudformation_reads_them() -> None:
    properties = parsed()["Resources"]["Topic"]["Properties"]
    assert properties["TopicName"] == {"Fn::Sub": "${AWS::StackName}-${Stage}"}
    assert properties["DisplayName"] == {"Fn::If": ["HasOwner", {"Ref": "Owner"}, {"Ref": "AWS::NoValue"}]}
    assert tags(parsed())["attribute"] == {"Fn::GetAtt": ["Queue", "Arn"]}  # "Queue.Arn" split in two
    assert parsed()["Conditions"]["HasOwner"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "Owner"}, ""]}]}


def test_the_parser_reads_json_too() -> None:
    assert samcli.parse_template('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')["StartAt"] == "A"


# -- AWS::LanguageExtensions ---------------------------------------------------------------------------------------


def test_the_language_extensions_resolve_parameters_pseudo_parameters_and_conditions() -> None:
    without, with_owner = extended(Stage="v2", Owner=""), extended(Stage="v2", Owner="ops")
    assert without["Resources"]["Topic"]["Properties"]["TopicName"] == "churn-v2"
    assert "DisplayName" not in without["Resources"]["Topic"]["Properties"]  # the AWS::NoValue branch
    assert with_owner["Resources"]["Topic"]["Properties"]["DisplayName"] == "ops"


def test_the_language_extensions_leave_what_only_the_stack_knows_for_the_stack() -> None:
    resolved = tags(extended(Stage="v2", Owner=""))
    assert resolved["ref"] == {"Ref": "Queue"}
    assert resolved["attribute"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    # CompleteSubResolver: a Sub naming a resource stays whole, where SAM CLI's own would leave a half-made string
    assert resolved["of-a-resource"] == {"Fn::Sub": "${Queue.Arn}/${Stage}"}
    assert resolved["escaped"] == "${Literal}-v2"


def test_the_language_extensions_leave_the_template_they_are_given_unchanged() -> None:
    template = parsed()
    kept = copy.deepcopy(template)
    samcli.resolve_language_extensions(template, {}, region="eu-west-1", account_id="1", stack_name="s")
    assert template == kept


@pytest.mark.parametrize(
    ("method", "parameters"),
    [
        ("get_function_args", ["self", "value"]),
        ("_parse_args", ["self", "args"]),
        ("_resolve_variable_map", ["self", "variable_map"]),
        ("_resolve_variable", ["self", "var_name", "variable_map"]),
    ],
)
def test_sam_clis_sub_resolver_has_the_private_methods_complete_sub_resolver_calls(
    method: str, parameters: list[str]
) -> None:
    found = inspect.getattr_static(samcli.FnSubResolver, method, None)
    assert found is not None, f"FnSubResolver.{method} is gone: CompleteSubResolver must change"
    assert list(inspect.signature(found).parameters) == parameters


def test_sam_clis_placeholder_pattern_captures_the_name_inside_the_braces() -> None:
    found = [match[1] for match in samcli.PLACEHOLDER_PATTERN.finditer("${AWS::Region}:${Queue.Arn}/${!Literal}")]
    assert found == ["AWS::Region", "Queue.Arn", "!Literal"]


# -- What a deployed stack resolves ---------------------------------------------------------------------------------


def test_the_stack_resolver_resolves_with_the_values_it_is_given() -> None:
    names = {"Stage": "v3", "Owner": "ops", "AWS::StackName": "churn", "Queue": {"Ref": "q-url", "Arn": "arn:q"}}
    resolver = samcli.stack_resolver(parsed(), names)
    assert samcli.resolved(resolver, parsed()["Resources"]["Topic"]["Properties"]["TopicName"]) == "churn-v3"
    assert samcli.resolved(resolver, {"Fn::If": ["HasOwner", "owned", "unowned"]}) == "owned"
    assert samcli.resolved(resolver, tags(parsed())) == {
        "of-a-resource": "arn:q/v3",
        "ref": "q-url",
        "attribute": "arn:q",
        # Unlike CloudFormation (and the language extensions above), it keeps the ${!...} escape as written: the
        # template has none; a test of one would need the expansion's resolution instead.
        "escaped": "${!Literal}-v3",
    }


def test_the_stack_resolver_makes_up_a_value_for_a_name_it_is_not_given() -> None:
    # Not an error: the logical id for a Ref, a Lambda ARN for a GetAtt. Template tests assert on names they give.
    resolver = samcli.stack_resolver(parsed(), {})
    assert samcli.resolved(resolver, {"Ref": "Undeclared"}) == "Undeclared"
    assert samcli.resolved(resolver, {"Fn::GetAtt": ["Undeclared", "Arn"]}).startswith("arn:aws:lambda:")


def test_the_stack_resolver_fails_on_an_fn_if_with_an_aws_novalue_branch() -> None:
    # Why sam_local and the expansion resolve Fn::If with the language extensions instead (see sam_local).
    resolver = samcli.stack_resolver(parsed(), {"Owner": "ops"})
    with pytest.raises(Exception, match="Missing Intrinsic property in Fn::If"):
        samcli.resolved(resolver, parsed()["Resources"]["Topic"]["Properties"]["DisplayName"])


# -- SAM CLI's readers, as the tests call them ----------------------------------------------------------------------


def test_sam_clis_readers_take_the_arguments_the_tests_pass() -> None:
    assert {"cmd_names", "section", "env"} <= set(inspect.signature(samcli.SamConfig.get_all).parameters)
    assert {"template_file", "parameter_overrides"} <= set(
        inspect.signature(samcli.SamLocalStackProvider.get_stacks).parameters
    )
    assert list(inspect.signature(samcli.ApiProvider).parameters)[0] == "stacks"
    assert list(inspect.signature(samcli.SamFunctionProvider.get).parameters) == ["self", "name"]


# -- The fence ------------------------------------------------------------------------------------------------------


def samcli_imports(path: Path) -> Iterator[int]:
    """Yield the line of every import of samcli in a file, inside functions too."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        else:
            continue
        if any(module.split(".")[0] == "samcli" for module in modules):
            yield node.lineno


def test_no_module_but_the_fence_imports_samcli() -> None:
    files = sorted(path for folder in FOLDERS for path in (PROJECT_ROOT / folder).rglob("*.py"))
    outside = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}" for path in files if path != FENCE for line in samcli_imports(path)
    ]
    assert outside == [], "import SAM CLI through churn_local.template.samcli"
    assert list(samcli_imports(FENCE)), "the fence imports samcli itself"
