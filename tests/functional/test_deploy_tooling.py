"""`make publish` and `make deploy` as a new user runs them in a fresh copy: no tracked file written, a real guard.

The copy holds the project's files as committed (plus this work tree's changes) in a new git repository; make runs
with this venv (`VENV=...`, its stamp taken as up to date with `-o`) and S3 is moto's server over HTTP.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.release import state
from tests.docs_pages import read, section
from tests.functional.conftest import PUBLISH_BUCKET

VENV = PROJECT_ROOT / ".venv"


def git(folder: Path, *args: str) -> str:
    """Run git in a folder; return its output."""
    result = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copy the project's files (tracked, or new and not ignored) into a new repository, committed as cloned."""
    copy = tmp_path_factory.mktemp("fresh") / "churn-api"
    files = git(PROJECT_ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, files):
        source = PROJECT_ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "clone")
    return copy


@pytest.fixture
def clean_copy(fresh_copy: Path) -> Iterator[Path]:
    """The fresh copy, with whatever a test left that git ignores removed afterwards."""
    yield fresh_copy
    git(fresh_copy, "clean", "-q", "-fdX")


def make(copy: Path, s3_server: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run make in the copy with this venv, S3 at the moto server and fake credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAKE"))}
    env |= {"AWS_ENDPOINT_URL_S3": s3_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1"}
    command = ["make", "--no-print-directory", f"VENV={VENV}", "-o", f"{VENV}/.installed-stamp", *args]
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def published(
    fresh_copy: Path, s3_server: str, tmp_path_factory: pytest.TempPathFactory, trained_artifacts: Path
) -> Any:
    """`make publish` run once in the fresh copy (SAMCONFIG_ENV default and production); return its output."""
    artifacts = tmp_path_factory.mktemp("published") / "artifacts"
    shutil.copytree(trained_artifacts, artifacts)
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    if PUBLISH_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=PUBLISH_BUCKET)
    outputs = []
    for env in ("default", "production"):
        args = ("publish", f"BUCKET={PUBLISH_BUCKET}", f"ARTIFACTS={artifacts}", f"SAMCONFIG_ENV={env}")
        outputs.append(make(fresh_copy, s3_server, *args))
    saved = (fresh_copy / state.STATE_FILE).read_text(encoding="utf-8")
    return {"artifacts": artifacts, "results": outputs, "state": saved, "s3": s3}


@pytest.fixture
def with_pins(published: Any, fresh_copy: Path) -> Iterator[Path]:
    """The fresh copy with the published pins saved as `make publish` left them; cleaned of them afterwards."""
    (fresh_copy / state.STATE_FILE).parent.mkdir(exist_ok=True)
    (fresh_copy / state.STATE_FILE).write_text(published["state"], encoding="utf-8")
    yield fresh_copy
    git(fresh_copy, "clean", "-q", "-fdX")


def test_make_publish_leaves_the_clean_copy_clean_and_saves_the_pins_in_the_users_ignored_state(
    published: Any, with_pins: Path
) -> None:
    assert [r.returncode for r in published["results"]] == [0, 0], [r.stderr for r in published["results"]]
    assert git(with_pins, "status", "--porcelain", "--untracked-files=all") == ""
    saved = state.load_state(with_pins / state.STATE_FILE)
    assert saved["default"]["TransformBucket"] == saved["production"]["TransformBucket"] == PUBLISH_BUCKET
    assert git(with_pins, "check-ignore", str(state.STATE_FILE)).strip() == str(state.STATE_FILE)


def test_make_deploy_on_a_fresh_copy_refuses_before_anything_is_published(clean_copy: Path, s3_server: str) -> None:
    assert "churn_local.release.deploy --config-env default" in make(clean_copy, s3_server, "-n", "deploy").stdout
    result = make(clean_copy, s3_server, "deploy", "DRY_RUN=1")
    assert result.returncode != 0
    assert "no published artifacts for environment 'default'" in result.stderr
    assert "run `make publish BUCKET=... SAMCONFIG_ENV=default` first" in result.stderr
    assert "sam deploy" not in result.stdout


def test_make_deploy_passes_the_environments_settings_and_the_published_pins_to_sam_deploy(
    published: Any, with_pins: Path, s3_server: str
) -> None:
    artifacts = f"ARTIFACTS={published['artifacts']}"
    result = make(with_pins, s3_server, "deploy", "DRY_RUN=1", artifacts, "SAMCONFIG_ENV=production")
    assert result.returncode == 0, result.stderr
    build, sam_deploy = result.stdout.splitlines()[-2:]
    assert build == "sam build"
    saved = state.load_state(with_pins / state.STATE_FILE)["production"]
    expected = {**state.samconfig_overrides(with_pins / "samconfig.toml", "production"), **saved}
    assert expected["DeploymentType"] == "Canary10Percent5Minutes" and expected["ReferenceKey"]
    assert sam_deploy == shlex.join(
        ["sam", "deploy", "--config-env", "production", "--parameter-overrides", state.overrides_text(expected)]
    )


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("TransformSha256", "0" * 64, "does not pin the artifacts in artifacts/"),
        ("TransformKey", "churn-api/0123456789abcdef/transformation.sav", "does not pin the artifacts in artifacts/"),
        ("FeatureSignature", "f" * 64, "does not pin the artifacts in artifacts/"),
        ("TransformBucket", "", "TransformBucket missing"),
    ],
)
def test_make_deploy_refuses_pins_that_are_not_the_local_artifacts(
    published: Any, with_pins: Path, s3_server: str, name: str, value: str, problem: str
) -> None:
    state.save_parameters(with_pins / state.STATE_FILE, "default", {name: value})
    result = make(with_pins, s3_server, "deploy", "DRY_RUN=1", f"ARTIFACTS={published['artifacts']}")
    assert result.returncode != 0
    assert problem in result.stderr
    assert "sam deploy" not in result.stdout


def test_make_deploy_refuses_when_s3_does_not_hold_the_pinned_bytes(
    published: Any, with_pins: Path, s3_server: str
) -> None:
    model_url = state.load_state(with_pins / state.STATE_FILE)["default"]["ModelDataUrl"]
    key = model_url.removeprefix(f"s3://{PUBLISH_BUCKET}/")
    held = published["s3"].get_object(Bucket=PUBLISH_BUCKET, Key=key)
    published["s3"].delete_object(Bucket=PUBLISH_BUCKET, Key=key)
    try:
        result = make(with_pins, s3_server, "deploy", "DRY_RUN=1", f"ARTIFACTS={published['artifacts']}")
    finally:
        body = held["Body"].read()
        published["s3"].put_object(Bucket=PUBLISH_BUCKET, Key=key, Body=body, Metadata=held["Metadata"])
    assert result.returncode != 0
    assert f"{model_url.removeprefix('s3://')} cannot be read" in result.stderr


def documented_block(heading: str) -> list[str]:
    """Return the command lines of the first ```sh block under a heading of docs/deploy.md, comments dropped."""
    block = section(read("docs/deploy.md"), heading).split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_documented_sequence_for_a_new_model_runs_here_up_to_aws(
    clean_copy: Path, s3_env: Any, s3_server: str, artifacts: Path
) -> None:
    """Run each `make` line of "Deploying a new model safely": for real where no AWS is needed, else with -n."""
    lines = documented_block("Deploying a new model safely")
    assert [line.split()[:2] for line in lines] == [["make", "train"], ["make", "publish"], ["make", "deploy"]] + [
        ["make", "deploy"]
    ]
    printed = ""
    for line in lines:
        args = [a.replace("my-artifacts-bucket", PUBLISH_BUCKET) for a in line.split()[1:]]
        # Training is tested on its own; the last deploy would call AWS.
        offline = args[0] == "train" or (args[0] == "deploy" and "DRY_RUN=1" not in args)
        result = make(clean_copy, s3_server, *(["-n"] if offline else []), *args, f"ARTIFACTS={artifacts}")
        assert result.returncode == 0, (line, result.stderr)
        printed += result.stdout
    assert "DeploymentType=Canary10Percent5Minutes" in printed and "ReferenceKey=" in printed
    assert git(clean_copy, "status", "--porcelain", "--untracked-files=all") == ""


def test_make_deploy_promotes_a_packaged_template_without_building(
    published: Any, with_pins: Path, s3_server: str
) -> None:
    # GIVEN published pins, and a template `sam package` wrote (the pipeline's build job)
    command = [str(VENV / "bin" / "python"), "-m", "churn_local.release.deploy", "--config-env", "production"]
    command += ["--artifacts", str(published["artifacts"]), "--dry-run", "--template-file", "packaged-prod.yaml"]
    command += ["--", "--role-arn", "arn:aws:iam::111111111111:role/cfn"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_ENDPOINT_URL_S3": s3_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    done = subprocess.run(command, cwd=with_pins, env=env, capture_output=True, text=True, timeout=120, check=False)
    # THEN the pins are checked as for make deploy, and sam deploy alone runs on the packaged template: nothing built
    assert done.returncode == 0, done.stderr
    (deploy,) = [shlex.split(line) for line in done.stdout.splitlines() if line.startswith("sam ")]
    assert deploy[:4] == ["sam", "deploy", "--config-env", "production"]
    assert deploy[-4:] == ["--template-file", "packaged-prod.yaml", "--role-arn", "arn:aws:iam::111111111111:role/cfn"]
