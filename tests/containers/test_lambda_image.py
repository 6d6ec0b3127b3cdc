"""The Lambda python3.13 image built here: content-keyed, never pulled, and laid out like the managed runtime."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.containers import dockerd, lambda_image, sam_local


def pinned(name: str) -> str:
    """Return constraints.txt's version of a package."""
    for line in (PROJECT_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned")


def test_the_tag_is_a_key_of_the_build_inputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GIVEN the tag the current inputs give
    tag = lambda_image.image_tag()
    # THEN it is stable, and a changed constraint gives another one (the runtime's boto3 follows constraints.txt)
    assert lambda_image.image_tag() == tag and tag.startswith(f"{lambda_image.REPOSITORY}:3.13-")
    changed = tmp_path / "constraints.txt"
    changed.write_text(lambda_image.CONSTRAINTS.read_text(encoding="utf-8").replace("boto3==", "boto3==0"))
    monkeypatch.setattr(lambda_image, "CONSTRAINTS", changed)
    assert lambda_image.image_tag() != tag


def test_sam_cli_is_told_to_use_the_local_image_and_never_to_pull() -> None:
    # GIVEN the arguments every sam local command of the project gets
    command = sam_local.sam_command("invoke", sam_local.SamLocalSettings(), {}, "churn-lambda-python:3.13-x")
    # THEN the image is the one built here and SAM CLI does not pull
    assert command[command.index("--invoke-image") + 1] == "churn-lambda-python:3.13-x"
    assert "--skip-pull-image" in command


def test_the_image_has_the_runtime_the_function_sees(runtime_image: str) -> None:
    # GIVEN the image start-api runs the function in (no network for this check)
    script = (
        "import json, os, sys, boto3, botocore, awslambdaric; "
        "print(json.dumps({'python': sys.version_info[:2], 'boto3': boto3.__version__, "
        "'botocore': botocore.__version__, 'boto3_path': boto3.__file__, "
        "'task_root': os.environ['LAMBDA_TASK_ROOT'], 'bootstrap': os.access('/var/runtime/bootstrap', os.X_OK)}))"
    )
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-e", "PYTHONPATH=/var/runtime", runtime_image]
        + ["/var/lang/bin/python3.13", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout)
    # THEN CPython 3.13, the SDK at the project's pins in /var/runtime, Lambda's task root and an executable bootstrap
    assert seen["python"] == [3, 13]
    assert (seen["boto3"], seen["botocore"]) == (pinned("boto3"), pinned("botocore"))
    assert seen["boto3_path"].startswith("/var/runtime/")
    assert seen["task_root"] == "/var/task" and seen["bootstrap"] is True


def test_the_dockerd_helper_stops_only_a_daemon_it_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GIVEN a helper state folder that records no daemon, then one that records a process that is not dockerd
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dockerd.stop() == "not started by this helper"
    dockerd.state_dir().mkdir(parents=True)
    (dockerd.state_dir() / "pid").write_text(str(os.getpid()), encoding="utf-8")
    # WHEN asked to stop
    # THEN it signals nothing (this test process is alive afterwards) and forgets the stale record
    assert dockerd.stop() == "not running"
    assert not (dockerd.state_dir() / "pid").exists()
