"""The checked-in OpenAPI document is generated from the code and stays in sync with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from openapi_spec_validator import validate

from churn_api.models import MAX_BATCH_SIZE
from churn_local.openapi import DOCUMENT
from tests.support import PROJECT_ROOT, reference_payload


def test_the_checked_in_document_matches_what_the_code_generates() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENDPOINT_", "TRANSFORM_", "CORS_", "ENABLE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "churn_local.openapi", "--check"],
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
