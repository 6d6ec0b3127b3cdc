"""The delivery pipeline (.github/workflows/pipeline.yaml): actionlint finds nothing, and it has the shape promised.

`sam pipeline init`'s two-stage shape, OIDC only, the model trained once and promoted, a manual approval before
production. It cannot run here (no AWS account, no GitHub runner); these checks are what can.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from churn_local.constants import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "pipeline.yaml"
ACTIONLINT = Path(sys.executable).with_name("actionlint")


@pytest.fixture(scope="module")
def pipeline() -> dict[Any, Any]:
    """Return the workflow as YAML reads it."""
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return document


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    assert ACTIONLINT.exists(), "actionlint is missing from .venv: run `make venv` (requirements-dev.txt pins it)"
    done = subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, sorted(WORKFLOW.parent.glob("*.y*ml")))],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": f"{ACTIONLINT.parent}:/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert shutil.which("actionlint", path=str(ACTIONLINT.parent))


def test_the_stages_run_in_the_two_stage_order_with_an_approval_before_production(pipeline: dict[Any, Any]) -> None:
    jobs = pipeline["jobs"]
    needs = {name: job.get("needs", []) for name, job in jobs.items()}
    assert needs == {
        "test": [],
        "build-and-package": ["test"],
        "deploy-testing": ["build-and-package"],
        "e2e-testing": ["deploy-testing"],
        "deploy-prod": ["e2e-testing"],
    }
    assert jobs["deploy-prod"]["environment"] == "production"
    assert any("make e2e STACK=" in step.get("run", "") for step in jobs["e2e-testing"]["steps"])


def test_credentials_come_from_oidc_roles_only(pipeline: dict[Any, Any]) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert pipeline["permissions"] == {"id-token": "write", "contents": "read"}
    assert "aws-access-key-id" not in text and "secrets." not in text
    logins = [
        step["with"]
        for job in pipeline["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert logins and all(set(login) >= {"role-to-assume", "aws-region"} for login in logins)


def test_the_model_is_trained_and_the_code_built_once_then_promoted(pipeline: dict[Any, Any]) -> None:
    runs = {name: " ".join(step.get("run", "") for step in job["steps"]) for name, job in pipeline["jobs"].items()}
    assert [name for name, run in runs.items() if "make venv train" in run] == ["build-and-package"]
    assert [name for name, run in runs.items() if "sam build" in run] == ["build-and-package"]
    for deploy, packaged in (("deploy-testing", "packaged-testing.yaml"), ("deploy-prod", "packaged-prod.yaml")):
        assert (
            "churn_local.release.deploy --config-env" in runs[deploy] and f"--template-file {packaged}" in runs[deploy]
        )
