"""Drift, deployed: the function samples what it scores into its log, and the scheduled check reads it back.

The stack is deployed with `DriftSamplePercent=100`. The held-out rows of data/churn.txt go through the API and the
check (DriftCheckFunction, invoked as its schedule would) finds nothing; then a drifted copy of them (`Day Mins` x
1.5, the `State` mix changed: tests/drift_data.py) goes through four times, and the check names both features and
publishes a MaxPSI above the alarm's threshold. Against a named stack it runs only where that stack was deployed with
these settings (a staging stack: the check reads whatever else it scored in the period too).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

from churn_local.training import dataset
from tests.drift_data import held_out, shifted
from tests.e2e.conftest import OptionTarget
from tests.e2e.targets import Target, poll

SAMPLING = {"DriftSamplePercent": "100", "DriftMinSamples": "100"}
SHIFTED_ROUNDS = 4  # the drifted rows, four to the held-out rows' one
BATCH = 1000


def post(target: Target, rows: Sequence[dict[str, str]]) -> int:
    """Score rows through /predict/batch; return how many were scored."""
    scored = 0
    for start in range(0, len(rows), BATCH):
        status, _, body = target.call("/predict/batch", "POST", {"customers": list(rows[start : start + BATCH])})
        assert status == 200, body[:300]
        scored += json.loads(body)["scored"]
    return scored


def run_check(target: Target, at_least: int) -> dict[str, Any]:
    """Invoke the drift check as its schedule does until it has read at least that many samples; return its report."""
    assert target.stack is not None
    client = target.client("lambda")
    report: dict[str, Any] = {}

    def read_enough() -> bool:
        nonlocal report
        answer = client.invoke(FunctionName=target.stack.outputs["DriftCheckFunctionName"], Payload=b"{}")
        assert "FunctionError" not in answer, answer["Payload"].read()[:2000]
        report = json.loads(answer["Payload"].read())
        return int(report["samples"]) >= at_least

    # Lambda ships a function's log lines to CloudWatch Logs within seconds, not at once.
    assert poll(read_enough, timeout_s=120, every_s=5), report
    return report


def largest_psi_published(target: Target) -> float:
    """Return the largest MaxPSI the check published in the last hour."""
    now = datetime.datetime.now(datetime.UTC)
    datapoints = target.client("cloudwatch").get_metric_statistics(
        Namespace="ChurnApi",
        MetricName="MaxPSI",
        StartTime=now - datetime.timedelta(hours=1),
        EndTime=now + datetime.timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max(float(point["Maximum"]) for point in datapoints)


def test_the_deployed_check_passes_the_held_out_rows_and_names_the_features_that_drifted(
    option_target: OptionTarget, trained_metadata: dict[str, Any]
) -> None:
    # GIVEN a stack that samples every customer it scores
    sampling = option_target("e2e-drift", SAMPLING)
    alarm_psi = float(sampling.parameter("DriftAlarmPSI") or 0.2)
    frame = held_out(trained_metadata)
    rows = [dataset.as_payload(row) for _, row in frame.iterrows()]
    # WHEN the held-out rows are scored and the check runs
    before = run_check(sampling, 0)["samples"]
    calm = run_check(sampling, before + post(sampling, rows))
    # THEN it computed every feature's PSI and the score's, and nothing drifted
    assert calm["enough"] is True and calm["drifted"] == [], calm
    assert {"Day Mins", "State", "score"} <= set(calm["psi"])
    assert largest_psi_published(sampling) < alarm_psi
    # WHEN a drifted copy of them is scored, four times as many, and the check runs again
    drifted = [dataset.as_payload(row) for _, row in shifted(frame).iterrows()]
    scored = sum(post(sampling, drifted) for _ in range(SHIFTED_ROUNDS))
    report = run_check(sampling, calm["samples"] + scored)
    # THEN it names the two features that moved, and the metric its alarm watches is over the alarm's threshold
    assert {"Day Mins", "State"} <= set(report["drifted"]), report
    assert largest_psi_published(sampling) > alarm_psi
