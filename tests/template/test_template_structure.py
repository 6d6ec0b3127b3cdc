"""template.yaml reads top-down: parameters in labelled groups, resources under one header per group, the
generated image mapping last, out of the hand-written part."""

from __future__ import annotations

import re
from typing import Any

from churn_local.constants import TEMPLATE
from churn_local.template import images


def parameter_groups(template: dict[str, Any]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    return groups


def test_every_parameter_is_in_exactly_one_group_in_the_order_parameters_declares_them(
    template: dict[str, Any],
) -> None:
    # GIVEN the parameter groups the console and `sam deploy --guided` show
    grouped = [name for group in parameter_groups(template) for name in group["Parameters"]]
    # THEN they name every parameter once, in the order the Parameters section declares them
    assert grouped == list(template["Parameters"])


def test_each_parameter_group_has_a_header_comment_above_its_first_parameter(template: dict[str, Any]) -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    for group in parameter_groups(template):
        label, first = group["Label"]["default"], group["Parameters"][0]
        assert re.search(rf"^  # -- {re.escape(label)}: .*\n  {first}:\n", text, re.M), label


def test_the_generated_mapping_is_the_last_section_of_the_template() -> None:
    # GIVEN the template's text
    text = TEMPLATE.read_text(encoding="utf-8")
    # THEN the generator's block sits under Mappings, after every hand-written section, and ends the file
    tail = text[text.rindex("\nMappings:\n") :]
    assert images.BEGIN in tail
    assert tail.rstrip("\n").endswith(images.END)
    assert not re.search(r"^[A-Z][A-Za-z]+:", tail.split("\n", 2)[2], re.M)
