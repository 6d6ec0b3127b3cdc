"""The deployed API answers as the same artifacts answer in-process: the reference customer, 1,000 real rows, refusals.

The oracle is `make score FROM_ENV=1` run with the deployed function's own variables against the same AWS (its S3,
its endpoint): the function's code on this machine, on the same model. Answers are compared field by field with
what it gives, never with hard-coded shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.template.expansion import default_threshold
from churn_local.training import dataset
from tests.e2e.targets import Target, known_difference, make_score

ROWS = 1000
REFERENCE_SCORE = 0.03568967431783676  # make serve's answer for events/direct-reference.json (README)


def needs_stack(target: Target) -> None:
    """Skip, saying why, where the target is a bare URL: the oracle needs the deployed function's variables."""
    if target.stack is None:
        pytest.skip("a base URL (CHURN_E2E_URL): the in-process comparison needs the stack's function variables")


def without_row(record: dict[str, Any]) -> dict[str, Any]:
    """Return a make score record as the batch item it holds (its input row dropped)."""
    return {key: value for key, value in record.items() if key != "row"}


@pytest.fixture(scope="module")
def rows(churn_frame: pd.DataFrame) -> list[dict[str, str]]:
    """Return the first 1,000 rows of data/churn.txt as API payloads."""
    return [dataset.as_payload(churn_frame.iloc[i]) for i in range(ROWS)]


def test_the_reference_customer_is_scored_as_in_process(target: Target, tmp_path: Path) -> None:
    # GIVEN the reference customer
    status, _, body = target.call("/predict", "POST", reference_payload())
    # THEN the deployed API answers 200 with make serve's score
    assert status == 200, body
    answer = json.loads(body)
    assert answer["score"] == REFERENCE_SCORE
    needs_stack(target)
    # AND every field the function's code gives in-process for the same model is the same
    (expected,) = [without_row(r) for r in make_score(target, [reference_payload()], tmp_path)]
    shared = {key: value for key, value in expected.items() if key not in ("index", "error")}
    assert {key: answer.get(key) for key in shared} == shared
    assert answer["threshold"] == float(target.cut_off() or default_threshold())


def test_a_batch_of_1000_real_rows_equals_make_score(
    target: Target, rows: list[dict[str, str]], tmp_path: Path
) -> None:
    # GIVEN 1,000 real customers as one batch
    status, _, body = target.call("/predict/batch", "POST", {"customers": rows})
    # THEN all of them are scored, in order
    assert status == 200, body[:500]
    answer = json.loads(body)
    assert answer["scored"] == ROWS and [item["index"] for item in answer["results"]] == list(range(ROWS))
    needs_stack(target)
    # AND each item equals make score FROM_ENV=1's on the same model, every field of it; make score names the model
    # on every row, the batch's answer once for all of them
    expected = [without_row(record) for record in make_score(target, rows, tmp_path)]
    assert answer["results"] == [{key: value for key, value in row.items() if key != "model"} for row in expected]
    assert all(row["model"] == answer["model"] for row in expected)


def test_a_bad_customer_gets_a_400_naming_the_field(target: Target) -> None:
    # GIVEN the reference customer with a state the model never saw
    status, _, body = target.call("/predict", "POST", {**reference_payload(), "State": "XX"})
    # THEN 400 VALIDATION_ERROR naming State, never a 500
    assert status == 400, body
    error = json.loads(body)["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in error["details"]] == ["State"]


def test_health_and_readiness(target: Target) -> None:
    # WHEN liveness and readiness are asked
    live, _, live_body = target.call("/health")
    ready, _, ready_body = target.call("/health/ready")
    # THEN both answer 200: the transformation loaded and checked, the endpoint InService
    assert (live, json.loads(live_body)) == (200, {"status": "ok"})
    assert ready == 200, ready_body
    readiness = json.loads(ready_body)
    assert readiness["status"] == "ready"
    assert readiness["endpoint"]["status"] == "InService"


def test_the_cors_preflight_is_answered_with_the_stacks_origin(target: Target, request: pytest.FixtureRequest) -> None:
    known_difference(request, target, "cors-preflight")
    origin = target.parameter("CorsAllowOrigin") or "http://localhost:3000"
    # GIVEN a browser's preflight for a JSON POST from the allowed origin
    ask = {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    status, headers, _ = target.call("/predict", "OPTIONS", headers=ask)
    # THEN API Gateway's mock answers it with the template's CORS settings
    assert status == 200
    assert headers.get("Access-Control-Allow-Origin") == origin
    assert "POST" in headers.get("Access-Control-Allow-Methods", "")
    assert headers.get("Access-Control-Max-Age") == "600"
