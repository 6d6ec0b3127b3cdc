"""checkov finds nothing in the CloudFormation deployed for each option, and every skip says why.

checkov runs from its own venv (.venv-checkov, `make checkov`): it pins boto3 to a version far older than the
project's, so it cannot share .venv. It reads `Metadata: checkov: skip` on each resource.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from tests.template.conftest import load_template
from tests.template.options import OPTIONS, expanded_with

CHECKOV = PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"


def with_carried_skips(source: dict[str, Any], expanded: dict[str, Any]) -> dict[str, Any]:
    """Copy an AWS::Serverless::Api's checkov skips to the RestApi, Stage and Deployment SAM generates from it.

    SAM copies a function's Metadata to the function it generates, not an Api's; its resources keep the Api's
    logical id as their prefix (ChurnApi, ChurnApi<stage>Stage, ChurnApiDeployment<hash>).
    """
    carried = copy.deepcopy(expanded)
    for logical_id, resource in source["Resources"].items():
        skips = (resource.get("Metadata") or {}).get("checkov")
        if resource["Type"] != "AWS::Serverless::Api" or not skips:
            continue
        for generated_id, generated in carried["Resources"].items():
            if generated_id.startswith(logical_id) and generated["Type"].startswith("AWS::ApiGateway::"):
                generated.setdefault("Metadata", {})["checkov"] = skips
    return carried


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run checkov once over the expanded template of every option; return its JSON report."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov` (make test does) to install checkov in its own venv")
    folder = tmp_path_factory.mktemp("checkov")
    source = load_template()
    for option in OPTIONS:
        expanded, _ = expanded_with(option)
        (folder / f"{option}.json").write_text(json.dumps(with_carried_skips(source, expanded), default=str))
    # --skip-download: no call to Prisma Cloud for guidelines; the checks themselves ship with checkov.
    command = [str(CHECKOV), "-d", str(folder), "--framework", "cloudformation", "--skip-download", "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if not result.stdout.strip().startswith(("{", "[")):
        pytest.fail(f"checkov did not report ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    assert isinstance(report, dict), "expected one report: the cloudformation framework"
    report["folder"] = folder
    return report


def by_option(checks: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for check in checks:
        found.setdefault(Path(check["file_path"]).stem, []).append(f"{check['check_id']} {check['resource']}")
    return found


def test_checkov_scanned_every_option(checkov_report: dict[str, Any]) -> None:
    results = checkov_report["results"]
    scanned = {Path(c["file_path"]).stem for kind in ("passed_checks", "skipped_checks") for c in results[kind]}
    assert scanned == set(OPTIONS)
    assert checkov_report["summary"]["resource_count"] >= 20 * len(OPTIONS)


def test_checkov_finds_no_failed_check_in_any_option(checkov_report: dict[str, Any]) -> None:
    assert by_option(checkov_report["results"]["failed_checks"]) == {}
    assert checkov_report["summary"]["failed"] == 0


def test_every_skipped_check_is_justified_next_to_its_resource(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped, "checkov read no skip at all: the Metadata is not where it looks"
    for check in skipped:
        comment = check["check_result"].get("suppress_comment", "")
        assert len(comment) > 30, f"{check['check_id']} on {check['resource']} is skipped without a reason"
