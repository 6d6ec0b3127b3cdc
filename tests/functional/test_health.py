"""Liveness and readiness through the real handler: what each touches and what each answers."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.functional.conftest import ENDPOINT, S3Reads, fresh_app, json_body, request

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # synchronous invocation request and response, Lambda quotas
ORIGIN = "https://app.example.com"


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
