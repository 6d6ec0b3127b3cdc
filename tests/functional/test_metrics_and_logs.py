"""What the handler publishes: EMF metrics for predictions, latency and errors by code."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from churn_local.lambda_runtime.event_files import reference_payload
from tests.functional.conftest import answer, request

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # synchronous invocation request and response, Lambda quotas
ORIGIN = "https://app.example.com"


def emf_documents(out: str) -> list[dict[str, Any]]:
    return [doc for line in out.splitlines() if line.startswith("{") and "_aws" in (doc := json.loads(line))]


def test_predictions_churn_and_endpoint_latency_are_published_as_emf(
    app_module: ModuleType, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    answer(sagemaker, "0.9\n0.1\n0.8\n0.2")
    request(app_module, "POST", "/predict/batch", {"customers": [reference_payload()] * 4})
    docs = emf_documents(capsys.readouterr().out)
    assert len(docs) == 1
    doc = docs[0]
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ChurnApi"
    assert {m["Name"] for m in directive["Metrics"]} >= {
        "Predictions",
        "ChurnPredictions",
        "ChurnRate",
        "EndpointLatency",
    }
    assert (doc["Predictions"], doc["ChurnPredictions"], doc["ChurnRate"]) == ([4.0], [2.0], [50.0])
    assert PHONE not in json.dumps(doc)


PHONE = reference_payload()["Phone"]


def test_errors_are_counted_by_code(
    app_module: ModuleType, sagemaker: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    request(app_module, "POST", "/predict", {"State": "SC"})
    sagemaker.add_client_error("invoke_endpoint", service_error_code="ThrottlingException", http_status_code=400)
    request(app_module, "POST", "/predict", reference_payload())
    docs = [d for d in emf_documents(capsys.readouterr().out) if "Errors" in d]
    assert [(d["ErrorCode"], d["Errors"]) for d in docs] == [("VALIDATION_ERROR", [1.0]), ("MODEL_THROTTLED", [1.0])]
    assert all("ErrorCode" in d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] for d in docs)
