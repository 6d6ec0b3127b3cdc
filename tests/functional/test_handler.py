"""The handler end to end: moto S3 holds a real pickled transformation, a Stubber plays SageMaker."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import time
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from botocore.stub import Stubber

from churn_api.config import ConfigError
from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import api_event, load_event, reference_payload
from churn_local.training.transformation import dumps
from tests.functional.conftest import BUCKET, ENDPOINT, KEY, MODEL, THRESHOLD, S3Reads, answer, fresh_app

PHONE = reference_payload()["Phone"]


def sklearn_csv(saved: dict[str, Any], payloads: list[dict[str, Any]]) -> bytes:
    """The CSV the endpoint must receive, computed with scikit-learn's own transforms on a DataFrame."""
    frame = pd.DataFrame(payloads)
    frame["Area Code"] = frame["Area Code"].astype("int64")
    matrix = np.hstack(
        [
            saved["One_Hot"].transform(frame[saved["obj_cols"]]).toarray(),
            saved["scaler"].transform(frame[saved["num_cols"]].astype(float)),
        ]
    )
    return "\n".join(",".join(repr(float(v)) for v in row) for row in matrix).encode()


def call(app: ModuleType, event: Any) -> Any:
    return app.lambda_handler(event, LambdaContext())


def body_of(response: dict[str, Any]) -> Any:
    # Powertools' REST resolver answers in multiValueHeaders, which API Gateway merges with headers.
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    return json.loads(response["body"])


def test_the_reference_customer_is_scored_through_api_gateway(
    app_module: ModuleType, sagemaker: Stubber, fitted_transformation: dict[str, Any]
) -> None:
    answer(sagemaker, "0.7310585975646973", sklearn_csv(fitted_transformation, [reference_payload()]))
    response = call(app_module, load_event("api-predict"))
    assert response["statusCode"] == 200
    assert body_of(response) == {
        "churn": True,
        "label": "True",
        "score": 0.7310585975646973,
        "threshold": THRESHOLD,
        "model": MODEL,
    }
    # AND the header names the same model version as the body
    assert response["multiValueHeaders"]["X-Model-Version"] == [MODEL["version"]]


def test_a_direct_invocation_with_the_payload_as_event_returns_the_same_information(
    app_module: ModuleType, sagemaker: Stubber, fitted_transformation: dict[str, Any]
) -> None:
    answer(sagemaker, "0.12", sklearn_csv(fitted_transformation, [reference_payload()]))
    assert call(app_module, load_event("direct-reference")) == {
        "churn": False,
        "label": "False",
        "score": 0.12,
        "threshold": THRESHOLD,
        "model": MODEL,
    }


def test_a_shuffled_key_order_sends_the_same_features(
    app_module: ModuleType, sagemaker: Stubber, fitted_transformation: dict[str, Any]
) -> None:
    expected = sklearn_csv(fitted_transformation, [reference_payload()])
    keys = list(reference_payload())
    for seed in range(5):
        random.Random(seed).shuffle(keys)
        answer(sagemaker, "0.5", expected)
        shuffled = {k: reference_payload()[k] for k in keys}
        assert call(app_module, api_event(shuffled))["statusCode"] == 200


def test_the_transformation_is_read_from_s3_once_per_container(
    app_module: ModuleType, sagemaker: Stubber, s3_reads: S3Reads
) -> None:
    for i in range(20):
        answer(sagemaker, "0.6")
        event = api_event(reference_payload()) if i % 2 else load_event("direct-reference")
        call(app_module, event)
    assert s3_reads.count == 1


def test_nothing_is_read_from_s3_before_the_first_request(app_module: ModuleType, s3_reads: S3Reads) -> None:
    assert not app_module.predictor.transformations.is_loaded
    assert s3_reads.count == 0


def test_a_missing_transformation_is_a_500_with_a_stable_code_and_is_retried_after_retry_after(
    s3_bucket: Any, sagemaker_free_app: ModuleType, fitted_transformation: dict[str, Any]
) -> None:
    event = load_event("api-predict")
    response = call(sagemaker_free_app, event)
    assert response["statusCode"] == 500
    error = body_of(response)["error"]
    assert error["code"] == "TRANSFORMATION_UNAVAILABLE"
    assert error["requestId"] == event["requestContext"]["requestId"]
    assert BUCKET not in response["body"] and KEY not in response["body"] and "NoSuchKey" not in response["body"]
    retry_after = int(response["multiValueHeaders"]["Retry-After"][0])

    s3_bucket.put_object(Bucket=BUCKET, Key=KEY, Body=dumps(fitted_transformation))
    # Within Retry-After the failure is remembered: answered at once, without reading S3 again.
    assert call(sagemaker_free_app, load_event("api-predict"))["statusCode"] == 500
    time.sleep(retry_after)
    with Stubber(sagemaker_free_app.predictor.scorer.client) as stubber:
        answer(stubber, "0.2")
        assert call(sagemaker_free_app, load_event("api-predict"))["statusCode"] == 200


def test_a_corrupt_transformation_is_a_500_with_a_stable_code_that_quotes_nothing_internal(
    s3_bucket: Any, sagemaker_free_app: ModuleType
) -> None:
    s3_bucket.put_object(Bucket=BUCKET, Key=KEY, Body=b"not a pickle")
    response = call(sagemaker_free_app, load_event("api-predict"))
    assert response["statusCode"] == 500
    assert body_of(response)["error"]["code"] == "TRANSFORMATION_UNAVAILABLE"
    for internal in ("s3://", BUCKET, KEY, "pickle", "load key"):
        assert internal not in response["body"]


@pytest.fixture
def sagemaker_free_app(s3_bucket: Any) -> ModuleType:
    """A cold container whose bucket does not yet hold the transformation."""
    return fresh_app()


@pytest.mark.parametrize(
    ("event", "field", "fragment"),
    [
        ("api-predict-unknown-state", "State", "'XX'"),
        ("api-predict-missing-field", "Day Mins", "required"),
        ("api-predict-non-numeric", "Eve Calls", "whole number"),
        ("api-predict-malformed-json", "body", "JSON"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_the_problem(
    app_module: ModuleType, sagemaker: Stubber, event: str, field: str, fragment: str
) -> None:
    response = call(app_module, load_event(event))
    assert response["statusCode"] == 400
    error = body_of(response)["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in error["details"]] == [field]
    assert fragment in error["details"][0]["problem"]


@pytest.mark.parametrize("body", [None, "", "[]", '"a string"', "42"])
def test_a_body_that_is_not_a_customer_object_is_a_400(app_module: ModuleType, sagemaker: Stubber, body: Any) -> None:
    response = call(app_module, api_event(body))
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "VALIDATION_ERROR"


def test_a_direct_invocation_with_an_unknown_category_returns_the_error(
    app_module: ModuleType, sagemaker: Stubber
) -> None:
    result = call(app_module, load_event("direct-unknown-state"))
    assert result["statusCode"] == 400
    assert result["error"]["details"] == [
        {"field": "State", "problem": "unknown category 'XX': not one the model was trained on"}
    ]


def test_a_direct_invocation_that_is_not_a_customer_names_the_missing_fields(
    app_module: ModuleType, sagemaker: Stubber
) -> None:
    result = call(app_module, {"State": "SC"})
    assert result["statusCode"] == 400
    assert {d["field"] for d in result["error"]["details"]} >= {"Day Mins", "Account Length", "CustServ Calls"}


@pytest.mark.parametrize(
    ("aws_code", "http_status", "status", "code"),
    [
        ("ValidationError", 400, 503, "MODEL_ENDPOINT_UNAVAILABLE"),
        ("ModelError", 424, 502, "MODEL_ERROR"),
        ("ModelNotReadyException", 429, 503, "MODEL_NOT_READY"),
        ("ThrottlingException", 400, 503, "MODEL_THROTTLED"),
        ("ServiceUnavailable", 503, 503, "MODEL_ENDPOINT_UNAVAILABLE"),
        ("InternalFailure", 500, 503, "MODEL_ENDPOINT_UNAVAILABLE"),
        ("InternalDependencyException", 530, 503, "MODEL_ENDPOINT_UNAVAILABLE"),
        ("SomethingNew", 500, 503, "MODEL_ENDPOINT_UNAVAILABLE"),
    ],
)
def test_endpoint_failures_map_to_5xx_with_a_stable_code(
    app_module: ModuleType, sagemaker: Stubber, aws_code: str, http_status: int, status: int, code: str
) -> None:
    sagemaker.add_client_error(
        "invoke_endpoint", service_error_code=aws_code, service_message="secret detail", http_status_code=http_status
    )
    response = call(app_module, load_event("api-predict"))
    assert response["statusCode"] == status
    error = body_of(response)["error"]
    assert error["code"] == code
    assert "secret detail" not in response["body"] and ENDPOINT not in response["body"]
    # Retryable answers say when; an endpoint that does not exist will not exist in a few seconds either.
    retry_after = response["multiValueHeaders"].get("Retry-After")
    assert (retry_after is None) == (code in ("MODEL_ERROR",) or aws_code == "ValidationError")


@pytest.mark.parametrize("body", ["0.81\n", "0.81,", '{"predictions": [{"score": 0.81}]}'])
def test_every_endpoint_answer_shape_gives_the_score(app_module: ModuleType, sagemaker: Stubber, body: str) -> None:
    answer(sagemaker, body)
    assert body_of(call(app_module, load_event("api-predict")))["score"] == 0.81


def test_an_endpoint_answer_that_is_not_a_score_is_a_502(app_module: ModuleType, sagemaker: Stubber) -> None:
    answer(sagemaker, "overloaded")
    response = call(app_module, load_event("api-predict"))
    assert response["statusCode"] == 502
    assert body_of(response)["error"]["code"] == "MODEL_BAD_RESPONSE"


def test_an_unexpected_failure_is_a_500_without_a_stack_trace(
    app_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("internal secret /var/task/churn_api")

    monkeypatch.setattr(app_module.predictor, "predict_one", explode)
    for event in (load_event("api-predict"), load_event("direct-reference")):
        response = call(app_module, event)
        text = json.dumps(response)
        assert "INTERNAL_ERROR" in text
        assert "secret" not in text
        assert "Traceback" not in text


def test_nothing_logged_identifies_the_customer(app_module: ModuleType, sagemaker: Stubber) -> None:
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.setFormatter(app_module.logger.registered_formatter)
    app_module.logger.addHandler(handler)
    answer(sagemaker, "0.5")
    call(app_module, load_event("api-predict"))
    for name in ("api-predict-unknown-state", "api-predict-non-numeric", "direct-unknown-state"):
        call(app_module, load_event(name))
    sagemaker.add_client_error("invoke_endpoint", service_error_code="ModelError", http_status_code=424)
    call(app_module, load_event("api-predict"))
    app_module.logger.removeHandler(handler)
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    assert [line["error_code"] for line in lines] == ["VALIDATION_ERROR"] * 3 + ["MODEL_ERROR"]
    assert PHONE not in logged.getvalue()


def test_a_container_without_its_configuration_fails_at_import(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENDPOINT_NAME")
    with pytest.raises(ConfigError, match="ENDPOINT_NAME"):
        fresh_app()


def test_the_function_works_against_motos_own_sagemaker_runtime(app_module: ModuleType) -> None:

    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": "0.91", "ContentType": "text/csv"}]},
        timeout=5,
    )
    assert body_of(call(app_module, load_event("api-predict")))["label"] == "True"


@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "application/xml"])
def test_a_body_not_declared_as_json_is_a_415(app_module: ModuleType, sagemaker: Stubber, content_type: str) -> None:
    response = call(app_module, api_event(reference_payload(), headers={"Content-Type": content_type}))
    assert response["statusCode"] == 415
    assert body_of(response)["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_body_that_is_not_utf8_is_a_400_on_the_body(app_module: ModuleType, sagemaker: Stubber) -> None:
    event = api_event(None)
    raw = json.dumps(reference_payload()).encode().replace(b'"SC"', b'"S\xc7"')
    event.update(body=base64.b64encode(raw).decode(), isBase64Encoded=True)
    response = call(app_module, event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["details"] == [{"field": "body", "problem": "is not UTF-8 text"}]


def test_multipart_form_data_without_a_boundary_is_a_415(app_module: ModuleType, sagemaker: Stubber) -> None:
    response = call(app_module, api_event(reference_payload(), headers={"Content-Type": "multipart/form-data"}))
    assert response["statusCode"] == 415
    assert body_of(response)["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_value_error_inside_the_handler_stays_a_500(app_module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: Any, **__: Any) -> Any:
        raise ValueError("a bug, not the client's fault")

    monkeypatch.setattr(app_module.predictor, "predict_one", explode)
    response = call(app_module, load_event("api-predict"))
    assert response["statusCode"] == 500
    assert body_of(response)["error"]["code"] == "INTERNAL_ERROR"
