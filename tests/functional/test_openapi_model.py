"""The OpenAPI document states which model answered: the model object in the bodies, X-Model-Version in the headers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from churn_api.errors import SCORING_ERRORS, PayloadTooLarge
from churn_api.provenance import MODEL_VERSION_HEADER
from churn_local.openapi import DOCUMENT


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_the_answers_and_errors_of_the_scoring_routes_declare_the_model(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("Prediction", "BatchResponse"):
        assert schemas[name]["properties"]["model"]["$ref"] == "#/components/schemas/ModelInfo", name
        assert "model" in schemas[name]["required"], name
    assert set(schemas["ModelInfo"]["required"]) == {"version", "threshold"}
    assert "model" in schemas["ErrorBody"]["properties"] and "model" not in schemas["ErrorBody"].get("required", [])


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_every_answer_the_function_gives_on_a_scoring_route_declares_x_model_version(
    document: dict[str, Any], path: str
) -> None:
    errors = (*SCORING_ERRORS, PayloadTooLarge) if path == "/predict/batch" else SCORING_ERRORS
    the_functions = {200} | {error.status for error in errors}
    for status, response in document["paths"][path]["post"]["responses"].items():
        # API Gateway's own answers (its 403, 429...) never reach the function: they name no model
        assert (MODEL_VERSION_HEADER in response.get("headers", {})) is (int(status) in the_functions), (path, status)
