"""The Lambda entry point tunes the garbage collector before its libraries load; other importers keep the default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from churn_api.collector import GC_YOUNG_THRESHOLD

REPORT = (
    "import gc, json, sys; import {module}; "
    "print(json.dumps({{'threshold': gc.get_threshold()[0], 'order': list(sys.modules)}}))"
)


def imported(module: str) -> dict[str, object]:
    env = {**os.environ, "ENDPOINT_NAME": "e", "TRANSFORM_BUCKET": "b", "TRANSFORM_KEY": "k", "THRESHOLD": "0.5"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    command = [sys.executable, "-c", REPORT.format(module=module)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    report: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_the_entry_point_raises_the_young_generation_before_any_library_is_imported() -> None:
    report = imported("churn_api.app")
    order = list(report["order"])  # type: ignore[call-overload]
    assert report["threshold"] == GC_YOUNG_THRESHOLD
    for library in ("aws_lambda_powertools", "pydantic", "boto3", "botocore"):
        assert order.index("churn_api.collector") < order.index(library), library


def test_training_and_publishing_keep_cpythons_collector() -> None:
    default = imported("json")["threshold"]  # CPython's own, in a fresh interpreter
    assert default != GC_YOUNG_THRESHOLD
    for module in ("churn_local.training.train", "churn_local.release.publish"):
        assert imported(module)["threshold"] == default, module
