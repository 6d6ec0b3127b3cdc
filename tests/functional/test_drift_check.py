"""The scheduled drift check's handler, against moto: sampled lines in a log group, the baseline in S3, metrics out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from churn_api.drift_handler import DriftCheck, DriftSettings
from churn_api.integrity import IntegrityError, sha256_hex
from churn_api.models import Customer
from churn_api.provenance import ModelInfo
from churn_api.sampling import DriftSampler
from churn_local.release.reference_cases import FunctionScorer
from churn_local.training import dataset
from tests.drift_data import held_out, shifted

BUCKET = "churn-api-drift-test"
KEY = "churn-api/4f1c2b9e7d3a/baseline.json"
LOG_GROUP = "/aws/lambda/churn-api-ChurnFunction-abc"
HOUR_MS = 3_600_000


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, trained_artifacts: Path) -> Iterator[dict[str, Any]]:
    """Moto's S3 holding the training's baseline, an empty log group, and CloudWatch."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        clients = {name: boto3.client(name) for name in ("s3", "logs", "cloudwatch")}
        clients["s3"].create_bucket(Bucket=BUCKET)
        clients["s3"].put_object(Bucket=BUCKET, Key=KEY, Body=(trained_artifacts / "baseline.json").read_bytes())
        clients["logs"].create_log_group(logGroupName=LOG_GROUP)
        clients["logs"].create_log_stream(logGroupName=LOG_GROUP, logStreamName="2026/12/07/[$LATEST]abc")
        yield clients


def settings_for(artifacts: Path, version: str, min_samples: int = 500) -> DriftSettings:
    return DriftSettings(
        log_group=LOG_GROUP,
        bucket=BUCKET,
        key=KEY,
        sha256=sha256_hex((artifacts / "baseline.json").read_bytes()),
        bucket_owner="",
        model_version=version,
        period_minutes=60,
        min_samples=min_samples,
        alarm_psi=0.2,
    )


def sample_lines(frame: pd.DataFrame, artifacts: Path, version: str) -> list[str]:
    """Score the rows the function's way and write every one as ChurnFunction's sampler writes it."""
    customers = [Customer.model_validate(dataset.as_payload(row)) for _, row in frame.iterrows()]
    scores = FunctionScorer(artifacts).scores(customers)
    written: list[str] = []
    DriftSampler(1.0, write=written.append)(customers, scores, ModelInfo(version=version, threshold=0.39))
    return "".join(written).splitlines()


def log(clients: dict[str, Any], lines: list[str], at_ms: int) -> None:
    events = [{"timestamp": at_ms, "message": line} for line in ["START RequestId: abc", *lines]]
    for start in range(0, len(events), 5_000):
        clients["logs"].put_log_events(
            logGroupName=LOG_GROUP, logStreamName="2026/12/07/[$LATEST]abc", logEvents=events[start : start + 5_000]
        )


def published(clients: dict[str, Any]) -> dict[str, float]:
    """Return the last value of every metric the check put in ChurnApi, named Metric or Metric/Feature."""
    values = {}
    for metric in clients["cloudwatch"].list_metrics(Namespace="ChurnApi")["Metrics"]:
        name = "/".join([metric["MetricName"], *(d["Value"] for d in metric.get("Dimensions", []))])
        stats = clients["cloudwatch"].get_metric_statistics(
            Namespace="ChurnApi",
            MetricName=metric["MetricName"],
            Dimensions=metric.get("Dimensions", []),
            StartTime=time.time() - 3600,
            EndTime=time.time() + 60,
            Period=3600,
            Statistics=["Maximum"],
        )
        values[name] = max(point["Maximum"] for point in stats["Datapoints"])
    return values


@pytest.mark.parametrize("drifted", [False, True])
def test_the_check_alarms_on_shifted_samples_only_and_publishes_psi_per_feature_and_the_score(
    aws: dict[str, Any], trained_artifacts: Path, trained_metadata: dict[str, Any], drifted: bool
) -> None:
    # GIVEN the hour's samples of the pinned version: the held-out rows as they are, or shifted
    version = trained_metadata["model_version"]
    rows = held_out(trained_metadata)
    now = int(time.time() * 1000)
    log(aws, sample_lines(shifted(rows) if drifted else rows, trained_artifacts, version), now - 60_000)
    # WHEN the scheduled check runs
    result = DriftCheck(aws, settings_for(trained_artifacts, version)).run(now, lambda: 300_000)
    # THEN it read every sample, and names Day Mins and State exactly when they drifted
    assert (result["samples"], result["complete"], result["enough"]) == (len(rows), True, True)
    assert ({"Day Mins", "State"} <= set(result["drifted"])) is drifted
    assert result["drifted"] == [] or drifted
    # AND it published the sample count, each feature's PSI, the score's, and the largest
    metrics = published(aws)
    assert metrics["DriftSamples"] == len(rows)
    assert {name.removeprefix("PSI/") for name in metrics if name.startswith("PSI/")} == set(result["psi"])
    assert "score" in result["psi"] and len(result["psi"]) == len(dataset.NUM_COLS) + len(dataset.OBJ_COLS) + 1
    assert metrics["MaxPSI"] == pytest.approx(max(result["psi"].values()), abs=1e-6)
    assert (metrics["MaxPSI"] > 0.2) is drifted


def test_samples_of_another_version_or_too_few_give_no_psi(
    aws: dict[str, Any], trained_artifacts: Path, trained_metadata: dict[str, Any]
) -> None:
    # GIVEN a hundred samples of the pinned version, and the held-out rows sampled by the version before it
    version = trained_metadata["model_version"]
    rows = held_out(trained_metadata)
    now = int(time.time() * 1000)
    log(aws, sample_lines(rows.head(100), trained_artifacts, version), now - 60_000)
    log(aws, sample_lines(rows, trained_artifacts, "0000000000000000"), now - 60_000)
    # AND samples of the pinned version older than the period
    log(aws, sample_lines(rows, trained_artifacts, version), now - 2 * HOUR_MS)
    # WHEN the check runs
    result = DriftCheck(aws, settings_for(trained_artifacts, version)).run(now, lambda: 300_000)
    # THEN it counts the hour's samples of its version only, too few for any PSI: missing data, never an alarm
    assert (result["samples"], result["other_versions"], result["enough"]) == (100, len(rows), False)
    assert published(aws) == {"DriftSamples": 100}


def test_the_check_refuses_a_baseline_that_is_not_the_published_one(
    aws: dict[str, Any], trained_artifacts: Path, trained_metadata: dict[str, Any]
) -> None:
    other = json.loads((trained_artifacts / "baseline.json").read_bytes())
    other["score"]["counts"][0] += 1
    aws["s3"].put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(other).encode())
    with pytest.raises(IntegrityError, match="sha256"):
        DriftCheck(aws, settings_for(trained_artifacts, "x")).run(int(time.time() * 1000), lambda: 300_000)
    assert published(aws) == {}


def test_no_sample_line_carries_a_phone(trained_artifacts: Path, trained_metadata: dict[str, Any]) -> None:
    rows = held_out(trained_metadata).head(20)
    lines = sample_lines(rows, trained_artifacts, "v")
    assert len(lines) == 20
    for line, phone in zip(lines, rows["Phone"], strict=True):
        assert "Phone" not in json.loads(line)["features"] and phone not in line
