"""The scheduled drift check (EventBridge Scheduler): the last period's samples against the published baseline.

Each run reads the samples ChurnFunction wrote to its log over the last DRIFT_PERIOD_MINUTES (churn_api.sampling),
keeps those of the pinned model version (the baseline is that model's), and, given at least DRIFT_MIN_SAMPLES,
computes the population stability index of every feature and of the score with churn_api.drift, the code `make drift`
runs. It publishes, in the ChurnApi namespace: DriftSamples (how many it read), PSI per Feature (each feature and
"score"), and MaxPSI, the largest, which the stack's alarm compares with DriftAlarmPSI. The baseline is read once per
container, its sha256 checked. Nothing from a sample reaches the log: counts, feature names and PSI values only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from churn_api.config import required
from churn_api.drift import Baseline, drifted
from churn_api.integrity import check_sha256
from churn_api.sampling import SAMPLE_MARKER, sample_of

log = logging.getLogger("churn_api.drift_handler")
log.setLevel(logging.INFO)

NAMESPACE = "ChurnApi"
# Every AWS call is bounded: three attempts of at most 5 s to connect and 10 s to read.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3})
# The most samples one run reads (10,000 a page): enough for PSI, bounded in memory and time.
MAX_SAMPLES = 200_000
# Time kept to publish the metrics: reading stops with less than this left.
PUBLISH_MARGIN_MS = 20_000


@dataclass(frozen=True)
class DriftSettings:
    """The check's environment, set by template.yaml."""

    log_group: str
    bucket: str
    key: str
    sha256: str
    bucket_owner: str
    model_version: str
    period_minutes: int
    min_samples: int
    alarm_psi: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DriftSettings:
        """Read the variables template.yaml sets."""
        return cls(
            log_group=required(env, "SAMPLES_LOG_GROUP"),
            bucket=required(env, "BASELINE_BUCKET"),
            key=required(env, "BASELINE_KEY"),
            sha256=env.get("BASELINE_SHA256", ""),
            bucket_owner=env.get("BASELINE_BUCKET_OWNER", ""),
            model_version=env.get("MODEL_VERSION", "") or "unpinned",
            period_minutes=int(required(env, "DRIFT_PERIOD_MINUTES")),
            min_samples=int(required(env, "DRIFT_MIN_SAMPLES")),
            alarm_psi=float(required(env, "DRIFT_ALARM_PSI")),
        )


def load_baseline(s3: Any, settings: DriftSettings) -> Baseline:
    """Read baseline.json from the artifacts' bucket; refuse bytes other than the published sha256."""
    request = {"Bucket": settings.bucket, "Key": settings.key}
    if settings.bucket_owner:
        request["ExpectedBucketOwner"] = settings.bucket_owner
    body: bytes = s3.get_object(**request)["Body"].read()
    check_sha256(body, settings.sha256)
    return Baseline.from_bytes(body)


@dataclass
class Samples:
    """The samples of one period: each feature's values and the scores, of the pinned version only."""

    features: dict[str, list[Any]]
    scores: list[float]
    other_versions: int = 0
    complete: bool = True

    @property
    def count(self) -> int:
        """Return how many samples were kept."""
        return len(self.scores)


def read_samples(
    logs: Any, settings: DriftSettings, names: list[str], now_ms: int, remaining_ms: Callable[[], int]
) -> Samples:
    """Read the period's sample lines from the function's log group (FilterLogEvents, page by page)."""
    samples = Samples({name: [] for name in names}, [])
    request: dict[str, Any] = {
        "logGroupName": settings.log_group,
        "startTime": now_ms - settings.period_minutes * 60_000,
        "endTime": now_ms,
        "filterPattern": f'"{SAMPLE_MARKER}"',
    }
    while True:
        page = logs.filter_log_events(**request)
        for event in page.get("events", []):
            sample = sample_of(event.get("message", ""))
            if sample is None:
                continue
            if sample.get("version") != settings.model_version:
                samples.other_versions += 1
                continue
            features = sample["features"]
            if not all(name in features for name in names):
                continue
            for name in names:
                samples.features[name].append(features[name])
            samples.scores.append(float(sample["score"]))
        token = page.get("nextToken")
        if not token or samples.count >= MAX_SAMPLES or remaining_ms() < PUBLISH_MARGIN_MS:
            samples.complete = not token
            return samples
        request["nextToken"] = token


def metric_data(report: Mapping[str, float], count: int) -> list[dict[str, Any]]:
    """Return the metrics of one run: the sample count, each PSI by feature, and the largest PSI."""
    data: list[dict[str, Any]] = [{"MetricName": "DriftSamples", "Value": float(count), "Unit": "Count"}]
    if report:
        data += [
            {"MetricName": "PSI", "Dimensions": [{"Name": "Feature", "Value": name}], "Value": value, "Unit": "None"}
            for name, value in sorted(report.items())
        ]
        data.append({"MetricName": "MaxPSI", "Value": max(report.values()), "Unit": "None"})
    return data


class DriftCheck:
    """One container's check: the clients, the settings, and the baseline read once."""

    def __init__(self, clients: Mapping[str, Any], settings: DriftSettings) -> None:
        self.clients = clients
        self.settings = settings
        self.baseline: Baseline | None = None

    def run(self, now_ms: int, remaining_ms: Callable[[], int]) -> dict[str, Any]:
        """Read the samples, compute PSI when there are enough, publish the metrics; return what was found."""
        if self.baseline is None:
            self.baseline = load_baseline(self.clients["s3"], self.settings)
        names = list(self.baseline.features)
        samples = read_samples(self.clients["logs"], self.settings, names, now_ms, remaining_ms)
        report: dict[str, float] = {}
        if samples.count >= self.settings.min_samples:
            report = self.baseline.stability(samples.features, samples.scores)
        self.clients["cloudwatch"].put_metric_data(Namespace=NAMESPACE, MetricData=metric_data(report, samples.count))
        result = {
            "samples": samples.count,
            "other_versions": samples.other_versions,
            "complete": samples.complete,
            "psi": {name: round(value, 6) for name, value in report.items()},
            "drifted": drifted(report, self.settings.alarm_psi),
            "enough": bool(report),
        }
        log.info("%s", {k: v for k, v in result.items() if k != "psi"} | {"max_psi": max(report.values(), default=0)})
        return result


def clients() -> dict[str, Any]:
    """Return the clients the check uses, each with timeouts and bounded attempts."""
    return {name: boto3.client(name, config=CLIENT_CONFIG) for name in ("s3", "logs", "cloudwatch")}


_check: DriftCheck | None = None


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge Scheduler's entry point: check the last period, up to now."""
    global _check  # one check per container, so that the baseline is read once
    if _check is None:
        _check = DriftCheck(clients(), DriftSettings.from_env())
    return _check.run(int(time.time() * 1000), context.get_remaining_time_in_millis)
