"""`serve` goes through a deploy's checks: it publishes like `make publish` and pins what the function may load."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from sklearn.preprocessing import MinMaxScaler

from churn_api.errors import TransformationUnavailable
from churn_api.integrity import sha256_hex
from churn_local.constants import LOCAL_ACCOUNT_ID, LOCAL_REGION, METADATA_FILE, PROJECT_ROOT, TRANSFORMATION_FILE
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.release import pins, publish
from churn_local.stack.local_stack import StackSettings
from tests.integration.conftest import (
    Stack,
    assert_clean_stop,
    clean_environment,
    predict,
    send,
    serve_command,
    start_stack,
)
from tests.integration.fault_answers import fault_answer, internal_names, logged_failure

BUCKET = StackSettings().bucket
# A refused start must say so quickly: it never gets as far as starting a server.
REFUSAL_TIMEOUT_S = 60


def test_serve_publishes_the_artifacts_under_their_content_address_and_serves_that_object(
    stack: Stack, trained_artifacts: Path, trained_metadata: dict[str, Any]
) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=stack.s3_url, region_name=LOCAL_REGION, aws_access_key_id="l", aws_secret_access_key="l"
    )
    digest = pins.read_artifacts(trained_artifacts).digest

    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    served = re.search(r"s3://(\S+?)/(\S+)", "".join(stack.stdout))

    assert listed == {f"{publish.DEFAULT_PREFIX}/{digest}/{name}" for name in pins.ARTIFACTS}
    assert served is not None
    assert (served[1], served[2]) == (BUCKET, f"{publish.DEFAULT_PREFIX}/{digest}/{TRANSFORMATION_FILE}")
    body = s3.get_object(Bucket=BUCKET, Key=served[2], ExpectedBucketOwner=LOCAL_ACCOUNT_ID)["Body"].read()
    assert sha256_hex(body) == trained_metadata["artifacts"][TRANSFORMATION_FILE]["sha256"]


def test_the_banner_shows_the_pins_the_function_gets(stack: Stack, trained_metadata: dict[str, Any]) -> None:
    lines = [line.strip() for line in stack.stdout]

    assert (
        f"Pinned (as deployed)     TransformSha256 {trained_metadata['artifacts'][TRANSFORMATION_FILE]['sha256']}"
        in lines
    )
    assert f"FeatureSignature {trained_metadata['features']['signature']}" in lines
    assert predict(stack, reference_payload()).status == 200
    assert send("GET", f"{stack.api_url}/health/ready").status == 200


# -- artifacts that do not belong together never start ---------------------------------------------------------


def flip_a_byte(folder: Path) -> None:
    """Change one byte of the pickled transformation (metadata.json keeps its sha256)."""
    data = bytearray((folder / TRANSFORMATION_FILE).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / TRANSFORMATION_FILE).write_bytes(bytes(data))


def swap_the_scaler(folder: Path) -> None:
    """Re-pickle the transformation with another, valid scaler (metadata.json keeps the old hashes)."""
    saved = pickle.loads((folder / TRANSFORMATION_FILE).read_bytes())  # noqa: S301 - the session's own artifact
    columns = saved["num_cols"]
    saved["scaler"] = MinMaxScaler().fit([[0.0] * len(columns), [1.0] * len(columns)])
    (folder / TRANSFORMATION_FILE).write_bytes(pickle.dumps(saved))


@pytest.mark.parametrize("tamper", [flip_a_byte, swap_the_scaler])
def test_serve_refuses_to_start_on_a_transformation_metadata_json_disowns(
    trained_artifacts: Path, tmp_path: Path, tamper: Any
) -> None:
    folder = tmp_path / "artifacts"
    shutil.copytree(trained_artifacts, folder)
    tamper(folder)
    assert json.loads((folder / METADATA_FILE).read_text())["artifacts"][TRANSFORMATION_FILE]["sha256"] != sha256_hex(
        (folder / TRANSFORMATION_FILE).read_bytes()
    )

    done = subprocess.run(
        serve_command(folder),
        cwd=PROJECT_ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT_S,
        check=False,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: refusing to serve {folder}: {folder / TRANSFORMATION_FILE} is not the file metadata.json describes: "
        "retrain (--retrain trains anew)"
    )
    assert "ready" not in done.stdout
    assert "Traceback" not in done.stderr


# -- pins the served transformation does not match: the function's own checks refuse it ----------------------------

WRONG_DIGEST = "0" * 64


@dataclass(frozen=True)
class Refusal:
    """serve options that pin something the published transformation is not, and the reason the function logs."""

    options: tuple[str, ...]
    reason: str


REFUSALS = {
    "sha256": Refusal(("--parameter", f"TransformSha256={WRONG_DIGEST}"), "sha256 mismatch"),
    "feature-signature": Refusal(("--parameter", f"FeatureSignature={WRONG_DIGEST}"), "feature signature mismatch"),
    # The bucket belongs to the local account (moto's); ExpectedBucketOwner naming another makes S3 refuse.
    "bucket-owner": Refusal(("--env", "TRANSFORM_BUCKET_OWNER=210987654321"), "(AccessDenied)"),
}


@pytest.fixture(scope="module", params=list(REFUSALS))
def refusing_stack(request: pytest.FixtureRequest, trained_artifacts: Path) -> Iterator[tuple[Stack, Refusal]]:
    """Run a stack whose function is pinned to something the published transformation is not."""
    refusal = REFUSALS[request.param]
    stack = start_stack(serve_command(trained_artifacts, *refusal.options))
    yield stack, refusal
    assert_clean_stop(stack)


def test_the_function_refuses_a_transformation_its_pins_do_not_match_with_a_500_that_names_nothing_internal(
    refusing_stack: tuple[Stack, Refusal],
) -> None:
    stack, refusal = refusing_stack

    reply = predict(stack, reference_payload())
    ready = send("GET", f"{stack.api_url}/health/ready")

    internal = [*internal_names(stack), refusal.reason, WRONG_DIGEST]
    assert fault_answer(reply, TransformationUnavailable, internal) is not None
    assert refusal.reason in logged_failure(stack, reply)["internal"]
    assert ready.status == 503
    assert ready.json()["transformation"] == {"loaded": False, "error": TransformationUnavailable.code}
