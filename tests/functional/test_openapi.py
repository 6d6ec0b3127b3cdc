"""The checked-in OpenAPI document is generated from the code and stays in sync with it."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from churn_api.contract import customer_schemas
from churn_api.errors import SCORING_ERRORS, PayloadTooLarge
from churn_api.gateway_answers import GATEWAY_ANSWERS
from churn_api.rules import MAX_BATCH_SIZE
from churn_local.apigw import responses as gateway_responses
from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.openapi import DOCUMENT
from tests.functional.conftest import fresh_app, swagger_document


def test_the_checked_in_document_matches_what_the_code_generates(trained_artifacts: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENDPOINT_", "TRANSFORM_", "CORS_", "ENABLE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "churn_local.openapi", "--check", "--artifacts", str(trained_artifacts)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_document_is_valid_openapi_3_describing_every_route() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    validate(document)
    assert document["openapi"].startswith("3.")
    assert {(path, method) for path, item in document["paths"].items() for method in item} == {
        ("/predict", "post"),
        ("/predict/batch", "post"),
        ("/health", "get"),
        ("/health/ready", "get"),
    }


def test_the_customer_schema_uses_the_reference_field_names_and_requires_all_but_phone() -> None:
    customer = json.loads(DOCUMENT.read_text(encoding="utf-8"))["components"]["schemas"]["Customer"]
    assert set(customer["properties"]) == set(reference_payload())
    assert set(customer["required"]) == set(reference_payload()) - {"Phone"}


def test_the_batch_schema_states_the_enforced_maximum() -> None:
    batch = json.loads(DOCUMENT.read_text(encoding="utf-8"))["components"]["schemas"]["BatchRequest"]
    assert batch["properties"]["customers"]["maxItems"] == MAX_BATCH_SIZE


def test_the_categorical_fields_list_the_categories_of_the_bundled_model(trained_artifacts: Path) -> None:
    saved = pickle.loads((trained_artifacts / "transformation.sav").read_bytes())  # noqa: S301 - trained here
    trained = {
        column: sorted(c.item() if hasattr(c, "item") else c for c in categories)
        for column, categories in zip(saved["obj_cols"], saved["One_Hot"].categories_, strict=True)
    }
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    for customer in customer_schemas(document):
        published = {field: customer["properties"][field]["anyOf"][0]["enum"] for field in trained}
        assert published == trained
    assert set(trained) == {"State", "Area Code", "Int'l Plan", "VMail Plan"}
    assert all(isinstance(code, int) for code in trained["Area Code"])


def test_each_scoring_route_documents_every_error_class_by_status_and_code() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    for path, errors in {"/predict": SCORING_ERRORS, "/predict/batch": (*SCORING_ERRORS, PayloadTooLarge)}.items():
        responses: dict[str, Any] = document["paths"][path]["post"]["responses"]
        documented = {(int(status), code) for status, r in responses.items() for code in codes_in(r["description"])}
        assert documented == {(e.status, e.code) for e in errors}, path


def test_each_scoring_route_documents_api_gateways_own_answers_and_the_deployments_authentication() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    schemes = document["components"]["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("apiKey", "header", "x-api-key"),
        ("apiKey", "header", "Authorization"),
    }
    gateway_body = {"$ref": "#/components/schemas/GatewayMessage"}
    assert document["components"]["schemas"]["GatewayMessage"]["required"] == ["message"]
    for path in ("/predict", "/predict/batch"):
        operation = document["paths"][path]["post"]
        # Optional here: each requirement is a deployment parameter (RequireApiKey, CognitoUserPoolArn).
        assert {} in operation["security"] and {"ApiKey": []} in operation["security"]
        assert {"CognitoIdToken": []} in operation["security"]
        for answer in GATEWAY_ANSWERS:
            response = operation["responses"][str(answer.status)]
            assert (
                f'API Gateway\'s {answer.response_type} (`{{"message": "{answer.message}"}}`)'
                in response["description"]
            )
            schema = response["content"]["application/json"]["schema"]
            assert gateway_body in schema.get("anyOf", [schema]), (path, answer.status)
    assert {"$ref": "#/components/schemas/ErrorBody"} in document["paths"]["/predict/batch"]["post"]["responses"][
        "413"
    ]["content"]["application/json"]["schema"]["anyOf"]


def test_the_documented_gateway_answers_are_the_ones_the_local_api_gives() -> None:
    local = {
        e.response_type: e for e in vars(gateway_responses).values() if isinstance(e, gateway_responses.GatewayError)
    }
    emulated = [answer for answer in GATEWAY_ANSWERS if answer.response_type in local]
    assert {a.response_type for a in emulated} == {"UNAUTHORIZED", "INVALID_API_KEY", "REQUEST_TOO_LARGE", "THROTTLED"}
    for answer in emulated:
        assert (local[answer.response_type].status, local[answer.response_type].message) == (
            answer.status,
            answer.message,
        )


def codes_in(description: str) -> list[str]:
    return [part.split(":")[0].strip() for part in description.split("; ") if part.split(":")[0].strip().isupper()]


def test_the_function_serves_the_checked_in_document_at_swagger(uploaded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the function deployed with Swagger on, its transformation in S3
    monkeypatch.setenv("ENABLE_SWAGGER", "true")
    app = fresh_app()
    # WHEN a client reads the live document
    live = swagger_document(app)
    # THEN it is docs/openapi.json (no 422 either), but for the categories, which are the loaded transformation's,
    # and the server, which is the stage the request came through
    checked_in = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert all("422" not in op["responses"] for item in live["paths"].values() for op in item.values())
    assert live.pop("servers") == [{"url": "/Prod"}]
    assert checked_in.pop("servers") == [{"url": "/"}]
    assert without_categories(live) == without_categories(checked_in)


def without_categories(document: dict[str, Any]) -> dict[str, Any]:
    """Return the document without the categorical fields' schemas: they list the loaded transformation's values."""
    stripped = copy.deepcopy(document)
    for customer in customer_schemas(stripped):
        properties = customer["properties"]
        for field in [name for name, schema in properties.items() if "enum" in schema.get("anyOf", [{}])[0]]:
            properties[field] = "categorical"
    return stripped
