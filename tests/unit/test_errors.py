"""The error classes are the one source of every error answer: bodies, headers, the OpenAPI responses, docs/api.md."""

from __future__ import annotations

import re

from churn_api.errors import ERRORS, SCORING_ERRORS, ApiError, ErrorDetail, InvalidRequest, error_responses
from tests.docs_pages import read, section


def documented_error_table() -> set[tuple[int, str, bool]]:
    """Return (status, code, has Retry-After) per row of docs/api.md's "Errors" table."""
    errors = section(read("docs/api.md"), "Errors")
    rows = re.findall(r"^\| (\d{3}) \| `([A-Z_]+)` \| (yes|no) \|", errors, flags=re.MULTILINE)
    return {(int(status), code, retry == "yes") for status, code, retry in rows}


def test_the_documented_error_table_says_what_the_error_classes_say() -> None:
    assert documented_error_table() == {(e.status, e.code, e.retry_after is not None) for e in ERRORS}


def test_every_code_is_stable_and_unique() -> None:
    codes = [e.code for e in ERRORS]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[A-Z_]+", code) for code in codes)


def test_an_error_renders_one_body_shape_with_the_request_id_and_no_internal_detail() -> None:
    error = InvalidRequest(details=[ErrorDetail(field="State", problem="is required")], internal="s3://b/k")
    assert error.body("req-1") == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "the request body is not valid",
            "details": [{"field": "State", "problem": "is required"}],
            "requestId": "req-1",
        }
    }
    assert ApiError().body() == {"error": {"code": "INTERNAL_ERROR", "message": "the service failed unexpectedly"}}


def test_retry_after_is_a_header_only_where_a_retry_can_succeed() -> None:
    assert {e.code for e in ERRORS if e().headers()} == {
        "TRANSFORMATION_UNAVAILABLE",
        "MODEL_ENDPOINT_UNAVAILABLE",
        "MODEL_NOT_READY",
        "MODEL_THROTTLED",
    }


def test_the_documented_responses_are_generated_from_the_classes_one_per_status() -> None:
    responses = error_responses(SCORING_ERRORS)
    assert set(responses) == {e.status for e in SCORING_ERRORS}
    for error in SCORING_ERRORS:
        assert f"{error.code}: {error.when}" in responses[error.status]["description"]


def test_the_documented_responses_declare_retry_after_where_an_error_of_that_status_sends_it() -> None:
    responses = error_responses(SCORING_ERRORS)
    retryable = {e.status for e in SCORING_ERRORS if e.retry_after is not None}
    assert {status for status, r in responses.items() if "Retry-After" in r.get("headers", {})} == retryable
