"""The Cognito user pool authorizer on the local API: which methods it guards, its 401, its place before the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from churn_local.template.provider import TemplateError
from tests.unit.local_api_support import KEY, ORIGIN, application, local_api, recorder, request

USER_POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"
PREDICT_ROUTES = {("POST", "/predict"), ("POST", "/predict/batch")}
OPEN_ROUTES = [("GET", "/health"), ("GET", "/health/ready"), ("GET", "/swagger")]
TOKEN = ("Authorization", "Bearer x")


def guarded_api(**overrides: str) -> tuple[Any, list[dict[str, Any]]]:
    events, handler = recorder()
    app = application(CognitoUserPoolArn=USER_POOL, CorsAllowOrigin=ORIGIN, **overrides)
    return local_api(handler, app, api_keys=[KEY]), events


# -- what SAM decided ------------------------------------------------------------------------------------------------


def test_a_user_pool_guards_exactly_the_predict_routes_with_the_authorization_header_and_never_a_preflight() -> None:
    methods = application(CognitoUserPoolArn=USER_POOL).api.methods.values()

    guarded = {(m.http_method, m.resource): m.token_header for m in methods if m.token_header is not None}

    assert guarded == dict.fromkeys(PREDICT_ROUTES, "Authorization")


def test_without_a_user_pool_no_method_needs_a_token() -> None:
    assert all(m.token_header is None for m in application().api.methods.values())


def test_a_value_that_is_not_a_user_pool_arn_is_refused_before_serving() -> None:
    with pytest.raises(TemplateError, match="CognitoUserPoolArn"):
        application(CognitoUserPoolArn="us-east-1_Example")


# -- the 401 -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [None, "", "   "])
@pytest.mark.parametrize("path", sorted(path for _, path in PREDICT_ROUTES))
def test_a_guarded_route_without_a_token_answers_401_unauthorized_with_cors_and_never_calls_the_function(
    sent: str | None, path: str
) -> None:
    api, events = guarded_api()
    headers = [("Origin", ORIGIN)] + ([("Authorization", sent)] if sent is not None else [])

    response = api.dispatch(request("POST", path, headers, b"{}"))

    assert response.status == 401
    assert response.body == b'{"message":"Unauthorized"}'
    assert response.header("x-amzn-ErrorType") == "UnauthorizedException"
    # The template's DEFAULT_4XX gateway response adds the CORS headers, so a page can read the 401.
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("x-amzn-RequestId")
    assert events == []


def test_any_token_in_any_header_case_reaches_the_function_with_empty_claims_and_the_header_passed_on() -> None:
    api, events = guarded_api(RequireApiKey="false")

    statuses = [
        api.dispatch(request("POST", "/predict", [(name, "Bearer x")], b"{}")).status
        for name in ("Authorization", "authorization")
    ]

    assert statuses == [200, 200]
    # Not verified locally, so nothing is decoded from the token into claims a function could trust.
    assert [e["requestContext"]["authorizer"] for e in events] == [{"claims": {}}, {"claims": {}}]
    assert events[0]["headers"]["Authorization"] == "Bearer x"


def test_an_unguarded_event_has_no_authorizer_context() -> None:
    api, events = guarded_api()
    plain_events, plain = recorder()

    api.dispatch(request("GET", "/health"))
    local_api(plain, application()).dispatch(request("POST", "/predict", body=b"{}"))

    assert "authorizer" not in events[0]["requestContext"]
    assert "authorizer" not in plain_events[0]["requestContext"]


@pytest.mark.parametrize(("method", "path"), OPEN_ROUTES)
def test_health_and_swagger_stay_open_with_a_user_pool(method: str, path: str) -> None:
    api, events = guarded_api()

    assert api.dispatch(request(method, path)).status == 200
    assert len(events) == 1


@pytest.mark.parametrize("path", sorted(path for _, path in PREDICT_ROUTES))
def test_the_preflight_needs_no_token_and_allows_the_authorization_header(path: str) -> None:
    api, events = guarded_api()

    response = api.dispatch(request("OPTIONS", path, [("Origin", ORIGIN), ("Access-Control-Request-Method", "POST")]))

    assert response.status == 200
    assert "Authorization" in response.header("Access-Control-Allow-Headers").split(",")
    assert json.loads(response.body) == {}
    assert events == []


# -- its place among API Gateway's checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([], 401),
        ([("x-api-key", KEY)], 401),
        ([TOKEN], 403),
        ([TOKEN, ("x-api-key", "wrong-key-0123456789")], 403),
        ([TOKEN, ("x-api-key", KEY)], 200),
    ],
)
def test_the_token_is_checked_before_the_api_key(headers: list[tuple[str, str]], status: int) -> None:
    api, _ = guarded_api(RequireApiKey="true")

    assert api.dispatch(request("POST", "/predict", headers, b"{}")).status == status


def test_a_guarded_request_over_the_payload_quota_is_refused_413_before_the_token_is_looked_at() -> None:
    api, _ = guarded_api()

    response = api.dispatch(request("POST", "/predict", body=b" " * (10 * 1024 * 1024 + 1)))

    assert response.status == 413


# -- what the API says about itself ----------------------------------------------------------------------------------


def test_describe_names_the_routes_that_need_the_authorization_header() -> None:
    on, _ = guarded_api()

    assert on.describe()["token_required"] == sorted((m, p, "Authorization") for m, p in PREDICT_ROUTES)
    assert local_api(app=application()).describe()["token_required"] == []
