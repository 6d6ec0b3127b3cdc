"""CORS and API keys on the local API: the preflight's mock, keyed methods, and the gateway responses' headers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from churn_local.apigw import responses
from tests.unit.local_api_support import KEY, ORIGIN, application, local_api, message, recorder, request

ORIGIN_HEADER = ("Origin", ORIGIN)


def keyed_api(**options: Any) -> tuple[Any, list[dict[str, Any]]]:
    events, handler = recorder()
    app = application(RequireApiKey="true", CorsAllowOrigin=ORIGIN)
    return local_api(handler, app, api_keys=[KEY], **options), events


# -- CORS preflight --------------------------------------------------------------------------------------------------


def test_the_preflight_is_answered_by_the_mock_integration_with_the_templates_headers_without_the_function() -> None:
    api, events = keyed_api()

    response = api.dispatch(request("OPTIONS", "/predict", [ORIGIN_HEADER, ("Access-Control-Request-Method", "POST")]))

    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Access-Control-Allow-Headers") == "Content-Type,X-Api-Key"
    assert response.header("Access-Control-Allow-Methods") == "GET,POST,OPTIONS"
    assert response.header("Access-Control-Max-Age") == "600"
    assert response.header("Access-Control-Allow-Credentials") is None
    assert response.header("x-amzn-RequestId")
    assert json.loads(response.body) == {}
    assert events == []


def test_the_preflight_never_needs_the_key_so_browsers_can_send_it() -> None:
    api, _ = keyed_api()

    assert api.dispatch(request("OPTIONS", "/predict/batch", [ORIGIN_HEADER])).status == 200


# -- API keys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [None, "", "wrong-key", KEY.upper()])
def test_a_keyed_method_answers_403_forbidden_without_the_right_key_and_never_calls_the_function(
    sent: str | None,
) -> None:
    api, events = keyed_api()
    headers = [("x-api-key", sent)] if sent is not None else []

    response = api.dispatch(request("POST", "/predict", headers, body=b"{}"))

    assert response.status == 403
    assert response.body == b'{"message":"Forbidden"}'
    assert response.header("x-amzn-ErrorType") == "ForbiddenException"
    assert events == []


def test_the_right_key_in_any_header_case_reaches_the_function_with_the_key_and_its_id_in_the_identity() -> None:
    events, handler = recorder()
    api = local_api(handler, application(RequireApiKey="true"), api_keys=["other-key-0123456789", KEY])

    statuses = [
        api.dispatch(request("POST", "/predict", [(name, KEY)], b"{}")).status for name in ("x-api-key", "X-API-Key")
    ]

    assert statuses == [200, 200]
    identities = [e["requestContext"]["identity"] for e in events]
    assert [i["apiKey"] for i in identities] == [KEY, KEY]
    assert identities[0]["apiKeyId"] == identities[1]["apiKeyId"]
    assert len(identities[0]["apiKeyId"]) == 10


def test_health_and_swagger_stay_open_when_keys_are_required() -> None:
    api, events = keyed_api()

    statuses = [api.dispatch(request("GET", path)).status for path in ("/health", "/health/ready", "/swagger")]

    assert statuses == [200, 200, 200]
    assert events[0]["requestContext"]["identity"]["apiKey"] is None


def test_without_required_keys_a_sent_key_is_not_put_in_the_identity() -> None:
    events, handler = recorder()
    api = local_api(handler, application(RequireApiKey="false"), api_keys=[KEY])

    assert api.dispatch(request("POST", "/predict", [("x-api-key", KEY)], b"{}")).status == 200
    assert events[0]["requestContext"]["identity"]["apiKey"] is None


# -- gateway responses -------------------------------------------------------------------------------------------


def failing(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("secret detail")


@pytest.mark.parametrize(
    ("method", "target", "body", "handler", "status", "text"),
    [
        ("POST", "/nowhere", b"", None, 403, "Missing Authentication Token"),
        ("TRACE", "/predict", b"", None, 403, "Missing Authentication Token"),
        ("POST", "/predict", b"{}", None, 403, "Forbidden"),
        ("POST", "/predict", b"x" * (10 * 1024 * 1024 + 1), None, 413, "Request Too Long"),
        ("GET", "/health", b"", failing, 502, "Internal server error"),
    ],
)
def test_the_gateways_own_errors_carry_the_gateway_responses_cors_headers(
    method: str, target: str, body: bytes, handler: Any, status: int, text: str
) -> None:
    events, recording = recorder()
    api = local_api(handler or recording, application(RequireApiKey="true", CorsAllowOrigin=ORIGIN))

    response = api.dispatch(request(method, target, [ORIGIN_HEADER], body))

    assert response.status == status
    assert message(response) == text
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Vary") == "Origin"
    assert response.header("x-amzn-RequestId")
    assert b"secret" not in response.body
    assert events == []


def test_a_request_refused_before_its_body_is_read_carries_the_gateway_responses_headers_too() -> None:
    api = local_api(app=application(CorsAllowOrigin=ORIGIN))

    response = api.reject(request("POST", "/predict"), responses.REQUEST_TOO_LARGE)

    assert (response.status, message(response)) == (413, "Request Too Long")
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("x-amzn-RequestId")
