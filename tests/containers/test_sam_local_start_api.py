"""`sam local start-api` over HTTP, beside make serve's local API on the same stack: same answers, scores exact.

SAM CLI's API emulation is not API Gateway (docs/local.md "SAM CLI's API is not API Gateway"): it answers a
preflight itself for any origin, adds its Cors headers to every answer (replacing the function's
Access-Control-Allow-Headers), checks no API key, runs no Cognito authorizer (only Lambda authorizers) and throttles
nothing. These tests hold what both must share; the local API (make serve) stays the faithful one, tested in
tests/integration.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.template.expansion import default_threshold
from churn_local.training import dataset
from tests.containers.conftest import SamLocalRun, without_request_ids

ROWS = 100
ORIGIN = "http://localhost:3000"  # the template's CorsAllowOrigin default


def call(
    url: str, method: str = "GET", body: Any = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send one request; return status, headers and body, whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers={**sent, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def customers(churn_frame: pd.DataFrame) -> list[dict[str, str]]:
    """Return the first rows of data/churn.txt as API payloads."""
    return [dataset.as_payload(churn_frame.iloc[i]) for i in range(ROWS)]


def test_predict_scores_every_customer_as_make_serve_does(
    sam_run: SamLocalRun, customers: list[dict[str, str]]
) -> None:
    # GIVEN 100 real customers, each POSTed to sam local start-api and to make serve's local API (4 at a time)
    def both(customer: dict[str, str]) -> tuple[tuple[int, Any], tuple[int, Any]]:
        sam_status, _, sam_body = call(f"{sam_run.api}/predict", "POST", customer)
        local_status, _, local_body = call(f"{sam_run.local_api}/predict", "POST", customer)
        return (sam_status, json.loads(sam_body)), (local_status, json.loads(local_body))

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(both, customers))
    # THEN both answer 200 with the same body for each: score to the last digit, label, threshold
    assert [sam for sam, _ in answers] == [local for _, local in answers]
    assert {status for (status, _), _ in answers} == {200}
    assert {body["threshold"] for (_, body), _ in answers} == {default_threshold()}


def test_a_batch_is_scored_as_make_serve_scores_it(sam_run: SamLocalRun, customers: list[dict[str, str]]) -> None:
    # GIVEN the same customers as one batch
    batch = {"customers": customers}
    sam_status, _, sam_body = call(f"{sam_run.api}/predict/batch", "POST", batch)
    local_status, _, local_body = call(f"{sam_run.local_api}/predict/batch", "POST", batch)
    # THEN both score all of them identically, in input order
    assert (sam_status, local_status) == (200, 200)
    answer = json.loads(sam_body)
    assert answer == json.loads(local_body)
    assert answer["scored"] == ROWS and [r["index"] for r in answer["results"]] == list(range(ROWS))


def test_a_bad_customer_gets_the_same_400_body(sam_run: SamLocalRun) -> None:
    # GIVEN the reference customer with a state the model never saw
    bad = {**reference_payload(), "State": "XX"}
    sam_status, _, sam_body = call(f"{sam_run.api}/predict", "POST", bad)
    local_status, _, local_body = call(f"{sam_run.local_api}/predict", "POST", bad)
    # THEN both answer 400 naming the field, with the same body (but for the per-request id)
    assert (sam_status, local_status) == (400, 400)
    answer = json.loads(sam_body)
    assert [d["field"] for d in answer["error"]["details"]] == ["State"]
    assert without_request_ids(answer) == without_request_ids(json.loads(local_body))


def test_health_answers_ok(sam_run: SamLocalRun) -> None:
    # WHEN /health is asked through SAM CLI
    status, _, body = call(f"{sam_run.api}/health")
    # THEN the function answers liveness as behind make serve
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert call(f"{sam_run.local_api}/health")[2] == body


def test_the_preflight_is_answered_from_the_templates_cors_settings(sam_run: SamLocalRun) -> None:
    # GIVEN a browser's preflight for a JSON POST with an API key
    ask = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key",
    }
    sam_status, sam_headers, _ = call(f"{sam_run.api}/predict", "OPTIONS", headers=ask)
    local_status, local_headers, _ = call(f"{sam_run.local_api}/predict", "OPTIONS", headers=ask)
    # THEN SAM CLI answers it itself, as API Gateway's mock does, with the template's origin, headers and max age
    assert (sam_status, local_status) == (200, 200)
    for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Headers", "Access-Control-Max-Age"):
        assert sam_headers[name] == local_headers[name], name
    assert sam_headers["Access-Control-Allow-Origin"] == ORIGIN
    methods = {m.strip() for m in sam_headers["Access-Control-Allow-Methods"].split(",")}
    assert methods == {m.strip() for m in local_headers["Access-Control-Allow-Methods"].split(",")} >= {"POST"}


def test_sam_cli_adds_its_cors_headers_to_every_answer(sam_run: SamLocalRun) -> None:
    # GIVEN a scored request that sends no Origin at all
    status, headers, _ = call(f"{sam_run.api}/predict", "POST", reference_payload())
    local_headers = call(f"{sam_run.local_api}/predict", "POST", reference_payload())[1]
    # THEN SAM CLI still adds the preflight's headers (API Gateway's proxy integration passes the function's own)
    assert status == 200
    assert headers["Access-Control-Allow-Methods"] and "Access-Control-Allow-Methods" not in local_headers
