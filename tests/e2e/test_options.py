"""Deploy options the engine runs: SnapStart's alias, provisioned concurrency, bulk scoring of an uploaded file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.training import dataset
from tests.e2e.conftest import OptionTarget
from tests.e2e.targets import Target, known_difference, make_score, poll

BULK_ROWS = 300


def _alias_of(target: Target) -> dict[str, Any]:
    assert target.stack is not None
    client = target.client("lambda")
    alias: dict[str, Any] = client.get_alias(FunctionName=target.stack.outputs["ChurnFunctionArn"], Name="live")
    return alias


def test_snapstart_publishes_a_version_behind_the_live_alias(option_target: OptionTarget) -> None:
    # GIVEN the stack deployed with EnableSnapStart=true
    snap = option_target("e2e-snapstart", {"EnableSnapStart": "true"})
    alias = _alias_of(snap)
    version = snap.client("lambda").get_function_configuration(
        FunctionName=snap.stack.outputs["ChurnFunctionArn"] if snap.stack else "", Qualifier=alias["FunctionVersion"]
    )
    # THEN the alias names a published version with SnapStart on, and the API answers through it
    assert alias["FunctionVersion"] != "$LATEST"
    assert version["SnapStart"]["ApplyOn"] == "PublishedVersions"
    status, _, body = snap.call("/predict", "POST", reference_payload())
    assert status == 200 and json.loads(body)["score"] > 0, body


def test_provisioned_concurrency_is_configured_on_the_live_alias(option_target: OptionTarget) -> None:
    # GIVEN the stack deployed with ProvisionedConcurrency=1
    warm = option_target("e2e-provisioned", {"ProvisionedConcurrency": "1"})
    assert warm.stack is not None
    config = warm.client("lambda").get_provisioned_concurrency_config(
        FunctionName=warm.stack.outputs["ChurnFunctionArn"], Qualifier="live"
    )
    # THEN the alias asks for one initialised environment, and the API answers through it
    assert config["RequestedProvisionedConcurrentExecutions"] == 1
    status, _, body = warm.call("/predict", "POST", reference_payload())
    assert status == 200 and json.loads(body)["score"] > 0, body


def _outputs(target: Target, bucket: str, name: str) -> list[dict[str, Any]]:
    s3 = target.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="output/").get("Contents", [])
    parts = sorted(item["Key"] for item in listed if f"/{name}/part-" in item["Key"])
    return [
        json.loads(line)
        for key in parts
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]


def test_an_uploaded_file_is_scored_row_for_row_as_make_score_scores_it(
    option_target: OptionTarget, churn_frame: pd.DataFrame, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN the stack deployed with bulk scoring, and 300 real rows as JSON Lines
    bulk = option_target("e2e-bulk", {"EnableBulkScoring": "true", "BulkMaxConcurrency": "2"})
    known_difference(request, bulk, "bulk-batches")
    assert bulk.stack is not None
    bucket = bulk.stack.outputs["BulkBucketName"]
    rows = [dataset.as_payload(churn_frame.iloc[i]) for i in range(BULK_ROWS)]
    expected = make_score(bulk, rows, tmp_path)
    # WHEN the file is uploaded under input/ (EventBridge starts the state machine)
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    bulk.client("s3").put_object(Bucket=bucket, Key="input/e2e.jsonl", Body=body)
    # THEN the run succeeds, and every row's answer lands under output/, equal to make score's, row for row
    machine = bulk.stack.outputs["BulkStateMachineArn"]
    assert poll(lambda: _run_status(bulk, machine) not in ("", "RUNNING"), timeout_s=240, every_s=3)
    assert _run_status(bulk, machine) == "SUCCEEDED"
    assert _outputs(bulk, bucket, "e2e.jsonl") == expected


def _run_status(target: Target, machine: str) -> str:
    """Return the status of the state machine's latest execution ('' before one starts)."""
    executions = target.client("stepfunctions").list_executions(stateMachineArn=machine).get("executions", [])
    latest = max(executions, key=lambda run: run["startDate"], default=None)
    return str(latest["status"]) if latest else ""
