"""Batches through the real handler: input order, per-record problems, the maximum, Lambda's payload limits."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from churn_api.rules import MAX_BATCH_SIZE
from churn_local.lambda_runtime.event_files import api_event, reference_payload
from tests.functional.conftest import THRESHOLD, answer, json_body, request

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # synchronous invocation request and response, Lambda quotas
ORIGIN = "https://app.example.com"


def test_a_batch_is_answered_in_input_order_with_one_endpoint_call(app_module: ModuleType, sagemaker: Stubber) -> None:
    answer(sagemaker, "0.1\n0.8\n0.5")
    response = request(app_module, "POST", "/predict/batch", {"customers": [reference_payload()] * 3})
    assert response["statusCode"] == 200
    body = json_body(response)
    assert [(r["index"], r["score"], r["churn"]) for r in body["results"]] == [
        (0, 0.1, False),
        (1, 0.8, True),
        (2, 0.5, True),
    ]
    assert (body["scored"], body["failed"], body["threshold"]) == (3, 0, THRESHOLD)


def test_a_bad_record_is_reported_by_index_and_field_without_losing_the_others(
    app_module: ModuleType, sagemaker: Stubber
) -> None:
    missing = {k: v for k, v in reference_payload().items() if k != "Day Mins"}
    records = [reference_payload(), missing, {**reference_payload(), "State": "XX"}, reference_payload()]
    answer(sagemaker, "0.9\n0.2")
    body = json_body(request(app_module, "POST", "/predict/batch", {"customers": records}))
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert [r.get("score") for r in body["results"]] == [0.9, None, None, 0.2]
    assert body["results"][1]["error"]["details"] == [{"field": "Day Mins", "problem": "is required", "index": 1}]
    assert body["results"][2]["error"]["details"][0]["field"] == "State"
    assert body["results"][2]["error"]["code"] == "VALIDATION_ERROR"
    assert (body["scored"], body["failed"]) == (2, 2)


def test_a_batch_with_no_valid_record_is_a_400_listing_every_problem(
    app_module: ModuleType, sagemaker: Stubber
) -> None:
    records = [{**reference_payload(), "State": "XX"}, {**reference_payload(), "Day Mins": "x"}]
    response = request(app_module, "POST", "/predict/batch", {"customers": records})
    assert response["statusCode"] == 400
    details = json_body(response)["error"]["details"]
    assert [(d["index"], d["field"]) for d in details] == [(0, "State"), (1, "Day Mins")]


def test_a_batch_over_the_maximum_is_a_413_and_reaches_no_endpoint(app_module: ModuleType, sagemaker: Stubber) -> None:
    response = request(
        app_module, "POST", "/predict/batch", {"customers": [reference_payload()] * (MAX_BATCH_SIZE + 1)}
    )
    assert response["statusCode"] == 413
    error = json_body(response)["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert str(MAX_BATCH_SIZE) in error["message"]


@pytest.mark.parametrize("body", [{"customers": []}, {"customers": "all"}, {}, [reference_payload()]])
def test_a_batch_that_is_not_a_list_of_customers_is_a_400(
    app_module: ModuleType, sagemaker: Stubber, body: Any
) -> None:
    response = request(app_module, "POST", "/predict/batch", body)
    assert response["statusCode"] == 400
    assert json_body(response)["error"]["code"] == "VALIDATION_ERROR"


def test_the_largest_batch_fits_lambdas_payload_limits_even_pretty_printed(app_module: ModuleType) -> None:
    widest = {
        k: (v if k in ("State", "Phone", "Int'l Plan", "VMail Plan") else "1234.5678901234567")
        for k, v in reference_payload().items()
    }
    body = json.dumps({"customers": [widest] * MAX_BATCH_SIZE}, indent=4)
    event = api_event(body)
    assert len(json.dumps(event).encode()) < LAMBDA_PAYLOAD_LIMIT
    result = {"index": MAX_BATCH_SIZE, "churn": False, "label": "False", "score": 0.12345678901234567}
    answer_size = len(json.dumps({"results": [result] * MAX_BATCH_SIZE, "scored": 0, "failed": 0}).encode())
    assert answer_size < LAMBDA_PAYLOAD_LIMIT
