"""The bulk function on a Distributed Map batch as Step Functions sends it: S3 faked by moto, SageMaker stubbed."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from churn_api.bulk import BatchNotScored
from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import load_event
from tests.functional.conftest import MODEL, THRESHOLD, answer

BULK_BUCKET = "churn-api-bulk-test"


@pytest.fixture
def bulk_module(uploaded: Any, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A cold container of the bulk function, with the transformation in moto's S3 and its output bucket."""
    monkeypatch.setenv("BULK_BUCKET", BULK_BUCKET)
    uploaded.create_bucket(Bucket=BULK_BUCKET)
    sys.modules.pop("churn_api.bulk_handler", None)
    return importlib.import_module("churn_api.bulk_handler")


@pytest.fixture
def endpoint(bulk_module: ModuleType) -> Iterator[Stubber]:
    """Stub the bulk function's sagemaker-runtime client; every call must be expected."""
    with Stubber(bulk_module.predictor.scorer.client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def written(s3: Any, key: str) -> list[dict[str, Any]]:
    """Return the JSON Lines object the function wrote."""
    body = s3.get_object(Bucket=BULK_BUCKET, Key=key)["Body"].read().decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def test_a_batch_is_scored_as_predict_batch_answers_and_written_under_output_by_its_first_row(
    bulk_module: ModuleType, endpoint: Stubber, uploaded: Any
) -> None:
    # GIVEN the batch of three CSV rows (strings, Churn? included; the third in an unknown state) at rows 500 to 502
    event = load_event("bulk-batch")
    answer(endpoint, "0.91\n0.07")  # one InvokeEndpoint call, for the two valid rows only
    # WHEN Step Functions invokes the function with it
    result = bulk_module.lambda_handler(event, LambdaContext())
    # THEN it reports the counts and the object it wrote, named by the execution, the input and the first row
    key = "output/3f1c8a52-6a1e-4d0e-9c1e-7b2f0c4d5e6f/customers-2026-12-05.csv/part-0000000500.jsonl"
    assert result == {"rows": 3, "scored": 2, "failed": 1, "output": key}
    # AND each row is written whole with the batch item the API would answer, indexed by its place in the file
    lines = written(uploaded, key)
    assert [line["row"] for line in lines] == [item["row"] for item in event["Items"]]
    assert [{k: v for k, v in line.items() if k != "row"} for line in lines[:2]] == [
        {"index": 500, "churn": THRESHOLD < 0.91, "label": str(THRESHOLD < 0.91), "score": 0.91, "error": None}
        | {"model": MODEL},
        {"index": 501, "churn": False, "label": "False", "score": 0.07, "error": None, "model": MODEL},
    ]
    # AND the unscored row names the model too, as every row does
    assert lines[2]["model"] == MODEL
    assert lines[2]["error"]["code"] == "VALIDATION_ERROR"
    assert lines[2]["error"]["details"][0] | {"problem": ""} == {"field": "State", "problem": "", "index": 502}
    assert "XX" in lines[2]["error"]["details"][0]["problem"]


def test_an_endpoint_fault_fails_the_batch_for_the_state_machine_to_retry_and_writes_nothing(
    bulk_module: ModuleType, endpoint: Stubber, uploaded: Any
) -> None:
    # GIVEN an endpoint that answers 503 ServiceUnavailable
    endpoint.add_client_error("invoke_endpoint", "ServiceUnavailable", http_status_code=503)
    # WHEN the batch is scored THEN the function fails with the error Step Functions retries, naming the API's code
    with pytest.raises(BatchNotScored, match="MODEL_ENDPOINT_UNAVAILABLE"):
        bulk_module.lambda_handler(load_event("bulk-batch"), LambdaContext())
    assert uploaded.list_objects_v2(Bucket=BULK_BUCKET).get("KeyCount") == 0


@pytest.mark.parametrize(
    "change",
    [
        {"Items": []},
        {"BatchInput": {"key": "elsewhere/x.csv", "execution": "e1"}},
        {"BatchInput": {"key": "input/x.csv", "execution": "../../etc"}},
    ],
)
def test_an_event_that_is_not_a_batch_of_this_state_machine_is_refused_before_anything_is_scored(
    bulk_module: ModuleType, endpoint: Stubber, change: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="not a Distributed Map batch"):
        bulk_module.lambda_handler({**load_event("bulk-batch"), **change}, LambdaContext())
