"""The bulk state machine's definition in its own file: read by the offline expansion as CloudFormation would get it.

template.yaml names statemachine/bulk_scoring.asl.json in DefinitionUri. `sam package` uploads it and Step Functions
reads it from S3 with DefinitionSubstitutions made; the offline expansion reads it in as the Definition. These tests
hold that the two come to the same state machine, and that the expansion with the file is the expansion of the same
template with the definition written inline, for every deployment option.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from churn_local.template import expansion
from tests.template.conftest import ACCOUNT_ID, REGION, STACK_NAME, TEMPLATE_PATH, expand, load_template
from tests.template.deployed import EACH_OPTION
from tests.template.options import parameters

STATE_MACHINE = "BulkScoringStateMachine"
WHERE = expansion.Deployment(REGION, ACCOUNT_ID, STACK_NAME)
# ${Name} in a definition: what CloudFormation replaces with DefinitionSubstitutions' value of Name.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def written() -> dict[str, Any]:
    """Return the state machine's properties as template.yaml writes them."""
    properties: dict[str, Any] = load_template()["Resources"][STATE_MACHINE]["Properties"]
    return properties


def definition_file() -> Path:
    return TEMPLATE_PATH.parent / written()["DefinitionUri"]


def with_definition(definition_property: dict[str, Any]) -> dict[str, Any]:
    """Return template.yaml with the state machine's DefinitionUri replaced by another way of giving it."""
    source = copy.deepcopy(load_template())
    properties = source["Resources"][STATE_MACHINE]["Properties"]
    del properties["DefinitionUri"]
    properties.update(definition_property)
    return source


def expanded_state_machine(source: dict[str, Any], option: str) -> dict[str, Any]:
    result = expansion.expand(expansion.as_packaged(source, TEMPLATE_PATH.parent), parameters(option), WHERE)
    resource: dict[str, Any] = result["Resources"][STATE_MACHINE]
    return resource


def test_the_template_names_a_json_definition_in_the_statemachine_folder_as_sam_init_lays_it_out() -> None:
    assert "Definition" not in written()
    assert written()["DefinitionUri"] == "statemachine/bulk_scoring.asl.json"
    assert isinstance(json.loads(definition_file().read_text(encoding="utf-8")), dict)


@EACH_OPTION
def test_the_expansion_with_the_file_is_the_expansion_with_the_definition_written_inline(option: str) -> None:
    # GIVEN the same template with the file's definition put back inline, as it was written before the move
    inline = with_definition({"Definition": json.loads(definition_file().read_text(encoding="utf-8"))})
    # THEN CloudFormation's transforms make the same of both, for every deployment option
    assert expand(parameters(option)) == expansion.expand(
        expansion.as_packaged(inline, TEMPLATE_PATH.parent), parameters(option), WHERE
    )


def test_a_deployment_hands_step_functions_the_file_with_the_same_substitutions_as_the_expansion_shows() -> None:
    # GIVEN the template as `sam package` leaves it (the file uploaded) and as the expansion reads it (the file read)
    uploaded = with_definition({"DefinitionUri": {"Bucket": "aws-sam-cli-managed-artifacts", "Key": "bulk.asl.json"}})
    deployed = expanded_state_machine(uploaded, "bulk")["Properties"]
    offline = expanded_state_machine(load_template(), "bulk")["Properties"]
    # THEN SAM hands the uploaded file on for Step Functions to read, with the substitutions it shows offline
    assert deployed.pop("DefinitionS3Location") == {"Bucket": "aws-sam-cli-managed-artifacts", "Key": "bulk.asl.json"}
    assert "Fn::Join" in offline.pop("DefinitionString")
    assert deployed == offline


def test_every_placeholder_of_the_file_is_a_substitution_and_every_substitution_is_used() -> None:
    placeholders = set(PLACEHOLDER.findall(definition_file().read_text(encoding="utf-8")))
    assert placeholders == set(written()["DefinitionSubstitutions"])


@pytest.mark.parametrize("intrinsic", [{"Ref": "BulkBucket"}, {"Fn::GetAtt": ["BulkScoreFunction", "Arn"]}])
def test_the_reader_refuses_an_intrinsic_function_which_cloudformation_leaves_unresolved_in_a_file(
    tmp_path: Path, intrinsic: dict[str, Any]
) -> None:
    # GIVEN a definition file with an intrinsic function, which the SAM transform would resolve only inline
    definition = {"StartAt": "Score", "States": {"Score": {"Type": "Pass", "Parameters": {"Bucket": intrinsic}}}}
    (tmp_path / "machine.asl.json").write_text(json.dumps(definition), encoding="utf-8")
    # THEN reading it fails, naming the function and the way that works
    with pytest.raises(ValueError, match=rf"{re.escape(next(iter(intrinsic)))} .*DefinitionSubstitutions"):
        expansion.read_definition(tmp_path / "machine.asl.json")


def test_the_reader_takes_a_yaml_definition_as_step_functions_does(tmp_path: Path) -> None:
    (tmp_path / "machine.asl.yaml").write_text("StartAt: Done\nStates:\n  Done:\n    Type: Succeed\n", "utf-8")
    assert expansion.read_definition(tmp_path / "machine.asl.yaml") == {
        "StartAt": "Done",
        "States": {"Done": {"Type": "Succeed"}},
    }


@pytest.mark.slow
def test_the_built_template_names_the_same_definition_file(sam_build: Path) -> None:
    # GIVEN the template `sam build` writes, which points relative paths from its own folder
    built = expansion.as_packaged(expansion.load_template(sam_build / "template.yaml"), sam_build)
    source = expansion.as_packaged(load_template(), TEMPLATE_PATH.parent)
    # THEN read from there, the definition is the file's
    (built_definition, source_definition) = (
        t["Resources"][STATE_MACHINE]["Properties"]["Definition"] for t in (built, source)
    )
    assert built_definition == source_definition
