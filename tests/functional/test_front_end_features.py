"""Batch, readiness, CORS, Swagger and metrics through the real handler (moto S3/SageMaker, Stubber)."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber

from churn_api.contract import customer_schemas
from churn_api.models import MAX_BATCH_SIZE
from churn_local.services.lambda_context import LambdaContext
from churn_local.services.lambda_events import api_event, reference_payload
from tests.functional.conftest import ENDPOINT, THRESHOLD, S3Reads, answer, fresh_app

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # synchronous invocation request and response, Lambda quotas
ORIGIN = "https://app.example.com"


def request(app: ModuleType, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    event = api_event(body, headers=headers)
    event.update(httpMethod=method, path=path, resource=path)
    event["requestContext"].update(httpMethod=method, resourcePath=path, path=f"/Prod{path}")
    return app.lambda_handler(event, LambdaContext())


def json_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def header(response: dict[str, Any], name: str) -> str | None:
    values = {k.lower(): v for k, v in response.get("multiValueHeaders", {}).items()}
    single = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if name.lower() in values:
        return ",".join(values[name.lower()])
    return single.get(name.lower())


# Batch


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


# Health


def create_moto_endpoint(name: str) -> None:
    sm = boto3.client("sagemaker")
    sm.create_model(
        ModelName="churn",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="churn-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "churn",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName="churn-config")


def test_liveness_answers_without_touching_s3_or_sagemaker(app_module: ModuleType, s3_reads: S3Reads) -> None:
    response = request(app_module, "GET", "/health")
    assert (response["statusCode"], json_body(response)) == (200, {"status": "ok"})
    assert s3_reads.count == 0


def test_readiness_is_200_when_the_transformation_loads_and_the_endpoint_is_in_service(app_module: ModuleType) -> None:
    create_moto_endpoint(ENDPOINT)
    response = request(app_module, "GET", "/health/ready")
    assert response["statusCode"] == 200
    assert json_body(response) == {
        "status": "ready",
        "transformation": {"loaded": True},
        "endpoint": {"status": "InService"},
    }


def test_readiness_is_503_for_an_endpoint_that_does_not_exist_without_naming_it(
    app_module: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    response = request(app_module, "GET", "/health/ready")
    assert response["statusCode"] == 503
    body = json_body(response)
    assert body == {"status": "not ready", "transformation": {"loaded": True}, "endpoint": {"status": "Unavailable"}}
    # Which endpoint, and SageMaker's reason, are for the operator's log only: the route needs no key.
    assert app_module.settings.endpoint_name not in response["body"]
    assert "ValidationException" not in response["body"]
    assert any(
        app_module.settings.endpoint_name in r.getMessage() and "ValidationException" in r.getMessage()
        for r in caplog.records
    )


def test_readiness_is_503_when_the_transformation_cannot_load(s3_bucket: Any) -> None:
    app = fresh_app()
    create_moto_endpoint(ENDPOINT)
    body = json_body(request(app, "GET", "/health/ready"))
    assert body["transformation"] == {"loaded": False, "error": "TRANSFORMATION_UNAVAILABLE"}
    assert body["endpoint"]["status"] == "InService"


# CORS


@pytest.fixture
def cors_app(uploaded: Any, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", f"{ORIGIN},http://localhost:3000")
    return fresh_app()


def test_a_preflight_from_an_allowed_origin_allows_the_api_key_header(cors_app: ModuleType) -> None:
    response = request(
        cors_app,
        "OPTIONS",
        "/predict",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    assert response["statusCode"] == 204
    assert header(response, "Access-Control-Allow-Origin") == ORIGIN
    assert "x-api-key" in (header(response, "Access-Control-Allow-Headers") or "").lower()
    assert "POST" in (header(response, "Access-Control-Allow-Methods") or "")


@pytest.mark.parametrize("origin", [ORIGIN, "http://localhost:3000"])
def test_cors_headers_are_on_successes_and_on_errors(cors_app: ModuleType, origin: str) -> None:
    with Stubber(cors_app.predictor.scorer.client) as sagemaker:
        answer(sagemaker, "0.5")
        ok = request(cors_app, "POST", "/predict", reference_payload(), headers={"Origin": origin})
        sagemaker.add_client_error("invoke_endpoint", service_error_code="ModelError", http_status_code=424)
        failed = request(cors_app, "POST", "/predict", reference_payload(), headers={"Origin": origin})
    invalid = request(cors_app, "POST", "/predict", {"State": "SC"}, headers={"Origin": origin})
    assert [r["statusCode"] for r in (ok, failed, invalid)] == [200, 502, 400]
    assert [header(r, "Access-Control-Allow-Origin") for r in (ok, failed, invalid)] == [origin] * 3


def test_an_origin_that_is_not_allowed_gets_no_cors_headers(cors_app: ModuleType) -> None:
    response = request(cors_app, "POST", "/predict", {"State": "SC"}, headers={"Origin": "https://evil.example"})
    assert header(response, "Access-Control-Allow-Origin") is None


def test_without_configured_origins_no_cors_headers_are_sent(app_module: ModuleType) -> None:
    response = request(app_module, "POST", "/predict", {"State": "SC"}, headers={"Origin": ORIGIN})
    assert header(response, "Access-Control-Allow-Origin") is None


# Swagger


def test_swagger_is_off_unless_enabled(app_module: ModuleType) -> None:
    response = request(app_module, "GET", "/swagger")
    assert response["statusCode"] == 404
    assert json_body(response)["error"]["code"] == "NOT_FOUND"


def test_swagger_serves_the_ui_and_the_document_when_enabled(
    uploaded: Any, monkeypatch: pytest.MonkeyPatch, churn_frame: pd.DataFrame
) -> None:
    monkeypatch.setenv("ENABLE_SWAGGER", "true")
    app = fresh_app()
    page = request(app, "GET", "/swagger")
    assert page["statusCode"] == 200
    assert "SwaggerUIBundle" in page["body"]
    assert "<script src=" not in page["body"]
    event = api_event(None)
    event.update(
        httpMethod="GET",
        path="/swagger",
        resource="/swagger",
        queryStringParameters={"format": "json"},
        multiValueQueryStringParameters={"format": ["json"]},
    )
    spec = json.loads(app.lambda_handler(event, LambdaContext())["body"])
    assert set(spec["paths"]) >= {"/predict", "/predict/batch", "/health", "/health/ready"}
    # The live document lists the categories of the transformation this container loaded (moto's S3 holds it).
    for customer in customer_schemas(spec):
        assert customer["properties"]["State"]["anyOf"][0]["enum"] == sorted(set(churn_frame["State"]))
        assert customer["properties"]["Area Code"]["anyOf"][0]["enum"] == sorted(set(churn_frame["Area Code"]))


# Metrics and logs


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
