"""Liveness and readiness through the real handler: what each touches and what each answers."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.functional.conftest import ENDPOINT, MODEL, S3Reads, fresh_app, json_body, request

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # synchronous invocation request and response, Lambda quotas
ORIGIN = "https://app.example.com"


PINNED_MODEL = "s3://churn-api-test-artifacts/churn-api/4f1c2b9e7d3a5b6c/model.tar.gz"


def create_moto_endpoint(name: str, model_data_url: str | None = None) -> None:
    sm = boto3.client("sagemaker")
    container = {"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"}
    sm.create_model(
        ModelName="churn",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer=container if model_data_url is None else {**container, "ModelDataUrl": model_data_url},
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
        "model": {**MODEL, "served": None},
    }


def test_readiness_is_503_for_an_endpoint_that_does_not_exist_without_naming_it(
    app_module: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    response = request(app_module, "GET", "/health/ready")
    assert response["statusCode"] == 503
    body = json_body(response)
    assert body == {
        "status": "not ready",
        "transformation": {"loaded": True},
        "endpoint": {"status": "Unavailable"},
        "model": {**MODEL, "served": None},
    }
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


@pytest.mark.parametrize(("served", "status"), [(PINNED_MODEL, 200), (PINNED_MODEL.replace("4f1c", "9e9e"), 503)])
def test_readiness_confirms_that_a_hosted_endpoint_serves_the_pinned_model(
    uploaded: Any, monkeypatch: pytest.MonkeyPatch, served: str, status: int
) -> None:
    # GIVEN a stack that hosts the model it pinned (ModelDataUrl), and an endpoint whose model loads `served`
    monkeypatch.setenv("MODEL_DATA_URL", PINNED_MODEL)
    app = fresh_app()
    create_moto_endpoint(ENDPOINT, served)
    # WHEN readiness is asked
    response = request(app, "GET", "/health/ready")
    # THEN it follows endpoint -> configuration -> model and is ready only when the model data URL is the pinned one
    assert response["statusCode"] == status
    assert json_body(response)["model"] == {**MODEL, "served": status == 200}
