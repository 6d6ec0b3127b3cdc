"""The parameter table of docs/deploy.md is template.yaml's: every name, its default and its group, in order.

template.yaml is the one source; the page repeats it for people, so this test holds the copy (as test_errors does
for the Errors table) and samconfig.toml only points at the page.
"""

from __future__ import annotations

import re
from typing import Any

from tests.docs_pages import read, section, table

PAGE = "docs/deploy.md"


def stated_default(spec: dict[str, Any]) -> str:
    """Return how the table writes a parameter's default: (required) without one, empty for "", else `value`."""
    if "Default" not in spec:
        return "(required)"
    return "empty" if spec["Default"] == "" else f"`{spec['Default']}`"


def documented_groups() -> dict[str, list[tuple[str, str]]]:
    """Return (name, default) per row of each group's table, by the group's heading under "Parameters"."""
    parameters = section(read(PAGE), "Parameters")
    groups = {}
    for line in parameters.splitlines():
        if line.startswith("### "):
            label = line.removeprefix("### ")
            groups[label] = [(name.strip("`"), default) for name, default, _ in table(section(parameters, label), "|")]
    return groups


def test_the_page_lists_the_templates_groups_in_the_interfaces_order(template: dict[str, Any]) -> None:
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert list(documented_groups()) == [group["Label"]["default"] for group in interface]


def test_each_group_lists_its_parameters_in_order_with_the_templates_defaults(template: dict[str, Any]) -> None:
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    documented = documented_groups()
    for group in interface:
        expected = [(name, stated_default(template["Parameters"][name])) for name in group["Parameters"]]
        assert documented[group["Label"]["default"]] == expected, group["Label"]["default"]


def test_samconfig_points_at_the_table_instead_of_copying_it(template: dict[str, Any]) -> None:
    samconfig = read("samconfig.toml")
    assert PAGE in samconfig
    # A list of parameters is a comment line that starts with a parameter's name.
    listed = [m[1] for line in samconfig.splitlines() if (m := re.match(r"#\s+([A-Z]\w+)", line))]
    assert [name for name in listed if name in template["Parameters"]] == []
