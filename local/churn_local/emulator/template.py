"""The built template as the emulator can take it: what CloudFormation does before and around the SAM transform.

MiniStack runs the SAM transform itself (samtranslator) but, before it, applies only the loop functions of
AWS::LanguageExtensions (Fn::ForEach, Fn::Length, Fn::ToJsonString) and hands SAM no parameter values: the
template as written fails at change-set creation ("'AutoPublishAlias' must be a string or a Ref to a template
parameter"). Each step below stands for one thing the engine does not do; each has a test in tests/e2e that shows
the engine still refuses the raw form, so that the step goes when the engine learns it. template.yaml never changes.

1. AWS::LanguageExtensions: conditions, Fn::If, Ref and Fn::Sub of parameters resolved offline by the project's
   own resolver (churn_local.template.expansion, as `make sam-local` does for SAM CLI), then dropped from Transform.
2. Metric-math alarms (`Metrics`): the engine refuses them ("metric math is not supported") and evaluates no alarm
   anyway; they are left out, and anything that still names one is an error, not a silent gap.

Nested applications (AWS::Serverless::Application whose Location is a local template, as `sam build` leaves it)
are walked the same way: each child is resolved with the literal values its parent passes, written beside it,
and its Location pointed there; `sam deploy` then packages the resolved child as it would the original.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from churn_local.template import expansion

RESOLVED_NAME = "template.emulated.json"
APPLICATION = "AWS::Serverless::Application"


class EngineTemplateError(ValueError):
    """The template cannot be made into one the engine takes; the message says what is in the way."""


def metric_math_alarms(template: Mapping[str, Any]) -> list[str]:
    """Return the logical ids of the alarms that compute their metric from others (`Metrics`)."""
    return sorted(
        name
        for name, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm" and "Metrics" in (resource.get("Properties") or {})
    )


def _references(node: Any) -> Iterator[str]:
    """Yield every logical id a node names through Ref, Fn::GetAtt, Fn::Sub placeholders or DependsOn."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield (value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    yield from (part.split("}")[0].split(".")[0] for part in text.split("${")[1:])
                yield from _references(value)
            elif key == "DependsOn":
                yield from ([value] if isinstance(value, str) else value)
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def without_resources(template: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """Return the template without these resources; refuse when anything left still names one of them."""
    kept = copy.deepcopy(dict(template))
    for name in names:
        kept["Resources"].pop(name, None)
    still = sorted(
        f"{where} -> {name}"
        for section in ("Resources", "Outputs")
        for where, body in (kept.get(section) or {}).items()
        for name in set(_references(body)) & set(names)
    )
    if still:
        raise EngineTemplateError(f"left out for the engine, but still referenced: {', '.join(still)}")
    return kept


def for_engine(
    template: Mapping[str, Any], parameters: Mapping[str, str], where: expansion.Deployment
) -> dict[str, Any]:
    """Return the template the engine takes for these parameter values (steps 1-2 of the module's docstring)."""
    values = expansion.parameter_values(template, parameters)
    resolved = expansion.apply_language_extensions(template, values, where)
    transforms = resolved.get("Transform")
    listed = transforms if isinstance(transforms, list) else [transforms]
    resolved["Transform"] = [name for name in listed if name != expansion.LANGUAGE_EXTENSIONS]
    return without_resources(resolved, metric_math_alarms(resolved))


def child_templates(template: Mapping[str, Any], folder: Path) -> dict[str, Path]:
    """Return each nested application whose Location is a local template (as `sam build` leaves it), by logical id."""
    children = {}
    for name, resource in (template.get("Resources") or {}).items():
        location = (resource.get("Properties") or {}).get("Location")
        if resource.get("Type") == APPLICATION and isinstance(location, str) and "://" not in location:
            children[name] = (folder / location).resolve()
    return children


def write_for_engine(
    built: Path, parameters: Mapping[str, str], where: expansion.Deployment, name: str = RESOLVED_NAME
) -> Path:
    """Write the built template (and every local child, recursively) as the engine takes it, beside each original.

    Beside, because CodeUri, ContentUri and Location name folders relative to the template. Returns the parent's path.
    """
    source = expansion.load_template(built)
    resolved = for_engine(source, parameters, where)
    for logical_id, child in child_templates(resolved, built.parent).items():
        properties = resolved["Resources"][logical_id]["Properties"]
        passed = {key: value for key, value in (properties.get("Parameters") or {}).items() if isinstance(value, str)}
        child_where = expansion.Deployment(where.region, where.account_id, f"{where.stack_name}-{logical_id}")
        written = write_for_engine(child, passed, child_where, name)
        inside = written.is_relative_to(built.parent)
        properties["Location"] = str(written.relative_to(built.parent)) if inside else str(written)
    out = built.with_name(name)
    out.write_text(json.dumps(resolved, indent=1) + "\n", encoding="utf-8")
    return out
