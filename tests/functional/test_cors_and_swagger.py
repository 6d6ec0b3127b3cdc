"""CORS headers and preflights, and Swagger on or off, through the real handler."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pandas as pd
import pytest
from botocore.stub import Stubber

from churn_api.contract import customer_schemas
from churn_local.lambda_runtime.event_files import reference_payload
from tests.functional.conftest import MODEL, answer, fresh_app, header, json_body, request, swagger_document

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # synchronous invocation request and response, Lambda quotas
ORIGIN = "https://app.example.com"


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
    # AND a page may read which model answered
    for reply in (ok, failed, invalid):
        assert "x-model-version" in (header(reply, "Access-Control-Expose-Headers") or "").lower()
        assert header(reply, "X-Model-Version") == MODEL["version"]


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
    spec = swagger_document(app)
    assert set(spec["paths"]) >= {"/predict", "/predict/batch", "/health", "/health/ready"}
    # The live document lists the categories of the transformation this container loaded (moto's S3 holds it).
    for customer in customer_schemas(spec):
        assert customer["properties"]["State"]["anyOf"][0]["enum"] == sorted(set(churn_frame["State"]))
        assert customer["properties"]["Area Code"]["anyOf"][0]["enum"] == sorted(set(churn_frame["Area Code"]))
