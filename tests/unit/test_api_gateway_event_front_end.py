"""The local API Gateway's front-end features without sockets: conditions, CORS, API keys, throttling, size limits."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues
from samcli.lib.cfn_language_extensions.sam_integration import process_template_for_sam_cli
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

from churn_local.api_gateway import (
    LAMBDA_REQUEST_LIMIT,
    LAMBDA_RESPONSE_LIMIT,
    Application,
    HttpRequest,
    HttpResponse,
    LocalApi,
    RequestIds,
    TemplateError,
    TokenBucket,
    build_event,
    lambda_payload_size,
)
from tests.support import PROJECT_ROOT

ORIGIN = "https://app.example.com"
KEY = "local-key-0123456789"

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]
Parameters:
  RequireApiKey: {Type: String, Default: "false", AllowedValues: ["true", "false"]}
  Origin: {Type: String, Default: "http://localhost:3000", AllowedPattern: "^https?://[a-z0-9.:-]+$"}
  Rate: {Type: Number, Default: 2, MinValue: 1}
Conditions:
  UseKeys: !Equals [!Ref RequireApiKey, "true"]
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Cors:
        AllowOrigin: !Sub "'${Origin}'"
        AllowHeaders: "'Content-Type,X-Api-Key'"
        MaxAge: "'600'"
      Auth:
        ApiKeyRequired: !If [UseKeys, true, false]
        AddApiKeyRequiredToCorsPreflight: false
      MethodSettings:
        - {ResourcePath: /*, HttpMethod: "*", ThrottlingRateLimit: !Ref Rate, ThrottlingBurstLimit: 3}
        - {ResourcePath: /~1slow, HttpMethod: GET, ThrottlingRateLimit: 1, ThrottlingBurstLimit: 1}
      GatewayResponses:
        DEFAULT_4XX:
          ResponseParameters:
            Headers: {Access-Control-Allow-Origin: !Sub "'${Origin}'", X-Echo: method.request.header.X-Trace}
        DEFAULT_5XX:
          ResponseParameters:
            Headers: {Access-Control-Allow-Origin: !Sub "'${Origin}'"}
  Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Events:
        Predict:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /predict, Method: post}
        Health:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /health
            Method: get
            Auth: !If [UseKeys, {ApiKeyRequired: false}, !Ref AWS::NoValue]
        Files:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/files/{path+}", Method: any}
        Slow:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /slow, Method: get}
        OwnOptions:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /slow, Method: options}
"""


def application(text: str = TEMPLATE, **overrides: str) -> Application:
    return Application.from_text(text, Path("/project"), overrides)


def recorder() -> tuple[list[dict[str, Any]], Any]:
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        return {"statusCode": 200, "body": "{}"}

    return events, handler


def local_api(
    app: Application | None = None, handler: Any = None, **options: Any
) -> tuple[LocalApi, list[dict[str, Any]]]:
    events, recording = recorder()
    api = LocalApi(
        app or application(RequireApiKey="true", Origin=ORIGIN),
        handlers={"Function": handler or recording},
        static_dir=None,
        **options,
    )
    return api, events


def request(method: str, target: str, *headers: tuple[str, str], body: bytes = b"") -> HttpRequest:
    return HttpRequest(method, target, (("Origin", ORIGIN), *headers), body)


def message(response: HttpResponse) -> str:
    text: str = json.loads(response.body)["message"]
    return text


# -- the template's conditions and parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(("require", "expected"), [("true", {"/predict", "/files/{path+}", "/slow"}), ("false", set())])
def test_fn_if_and_no_value_are_settled_by_the_parameter_so_keys_guard_exactly_the_methods_sam_would(
    require: str, expected: set[str]
) -> None:
    app = application(RequireApiKey=require)
    api = app.apis["Api"]

    keyed = {r.resource for r in app.routes if not r.cors_preflight and r.requires_api_key(api)}

    assert keyed == expected
    assert api.auth["ApiKeyRequired"] is (require == "true")
    health = next(r for r in app.routes if r.resource == "/health")
    assert ("Auth" in health.properties) is (require == "true")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"RequireApiKey": "yes"}, "RequireApiKey"),
        ({"Origin": "http://example.com/path"}, "Origin"),
        ({"Origin": "*"}, "Origin"),
        ({"Rate": "0"}, "Rate"),
        ({"Rate": "fast"}, "Rate"),
    ],
)
def test_a_parameter_value_cloudformation_would_refuse_is_refused_before_serving(
    overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(TemplateError, match=named):
        application(**overrides)


def test_an_api_key_opt_out_on_an_api_that_requires_no_key_is_refused_like_sam_refuses_it() -> None:
    without_api_auth = TEMPLATE.replace("ApiKeyRequired: !If [UseKeys, true, false]", "ApiKeyRequired: false")

    with pytest.raises(TemplateError, match="ApiKeyRequired false on GET /health"):
        application(without_api_auth, RequireApiKey="true")


# -- CORS preflight --------------------------------------------------------------------------------------------------


def test_the_preflight_is_answered_by_the_mock_integration_with_the_configured_headers_without_the_function() -> None:
    api, events = local_api()

    response = api.dispatch(request("OPTIONS", "/predict", ("Access-Control-Request-Method", "POST")))

    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Access-Control-Allow-Headers") == "Content-Type,X-Api-Key"
    assert response.header("Access-Control-Max-Age") == "600"
    assert response.header("Access-Control-Allow-Credentials") is None
    assert response.header("x-amzn-RequestId")
    assert json.loads(response.body) == {}
    assert events == []


def test_without_allow_methods_the_preflight_lists_the_paths_methods_and_any_means_all_of_them() -> None:
    api, _ = local_api()

    predict = api.dispatch(request("OPTIONS", "/predict")).header("Access-Control-Allow-Methods")
    files = api.dispatch(request("OPTIONS", "/files/a/b")).header("Access-Control-Allow-Methods")

    assert predict == "OPTIONS,POST"
    assert files == "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"


def test_a_path_with_its_own_options_method_reaches_the_function_instead_of_the_mock() -> None:
    api, events = local_api(api_keys=[KEY])

    response = api.dispatch(request("OPTIONS", "/slow", ("x-api-key", KEY)))

    assert response.status == 200
    assert response.header("Access-Control-Allow-Methods") is None
    assert [e["httpMethod"] for e in events] == ["OPTIONS"]


SMALL_API = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: Prod, Cors: CORS}
  Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Events:
        Health:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /health, Method: get}
"""


@pytest.mark.parametrize(
    ("cors", "origin"), [("\"'https://a.example'\"", "https://a.example"), ("{AllowHeaders: \"'X-Api-Key'\"}", "*")]
)
def test_a_cors_string_is_the_allowed_origin_and_a_map_without_one_allows_any_origin(cors: str, origin: str) -> None:
    api, _ = local_api(application(SMALL_API.replace("CORS", cors)))

    response = api.dispatch(request("OPTIONS", "/health"))

    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == origin
    assert response.header("Access-Control-Allow-Methods") == "GET,OPTIONS"


# -- API keys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [None, "", "wrong-key", KEY.upper()])
def test_a_keyed_method_answers_403_forbidden_without_the_right_key_and_never_calls_the_function(
    sent: str | None,
) -> None:
    api, events = local_api(api_keys=[KEY])
    headers = [("x-api-key", sent)] if sent is not None else []

    response = api.dispatch(request("POST", "/predict", *headers, body=b"{}"))

    assert response.status == 403
    assert response.body == b'{"message":"Forbidden"}'
    assert response.header("x-amzn-ErrorType") == "ForbiddenException"
    assert events == []


def test_the_right_key_in_any_header_case_reaches_the_function_with_the_key_and_its_id_in_the_identity() -> None:
    api, events = local_api(api_keys=["other-key", KEY])

    responses = [
        api.dispatch(request("POST", "/predict", (name, KEY), body=b"{}")) for name in ("x-api-key", "X-API-Key")
    ]

    assert [r.status for r in responses] == [200, 200]
    identities = [e["requestContext"]["identity"] for e in events]
    assert [i["apiKey"] for i in identities] == [KEY, KEY]
    assert identities[0]["apiKeyId"] == identities[1]["apiKeyId"]
    assert len(identities[0]["apiKeyId"]) == 10
    assert identities[0]["apiKeyId"] != api.api_keys["other-key"].key_id


def test_opted_out_methods_and_the_preflight_stay_open_when_keys_are_required() -> None:
    api, events = local_api(api_keys=[KEY])

    health = api.dispatch(request("GET", "/health"))
    preflight = api.dispatch(request("OPTIONS", "/predict"))

    assert (health.status, preflight.status) == (200, 200)
    assert events[0]["requestContext"]["identity"]["apiKey"] is None


def test_the_preflight_needs_the_key_too_when_add_api_key_required_to_cors_preflight_keeps_its_default() -> None:
    app = application(TEMPLATE.replace("        AddApiKeyRequiredToCorsPreflight: false\n", ""), RequireApiKey="true")
    api, _ = local_api(app, api_keys=[KEY])

    assert api.dispatch(request("OPTIONS", "/predict")).status == 403
    assert api.dispatch(request("OPTIONS", "/predict", ("x-api-key", KEY))).status == 200


def test_without_required_keys_a_sent_key_is_not_put_in_the_identity() -> None:
    api, events = local_api(application(RequireApiKey="false"), api_keys=[KEY])

    assert api.dispatch(request("POST", "/predict", ("x-api-key", KEY), body=b"{}")).status == 200
    assert events[0]["requestContext"]["identity"]["apiKey"] is None


# -- gateway responses -------------------------------------------------------------------------------------------


def failing(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("method", "target", "body", "handler", "status", "text"),
    [
        ("POST", "/nowhere", b"", None, 403, "Missing Authentication Token"),
        ("POST", "/predict", b"{}", None, 403, "Forbidden"),
        ("POST", "/predict", b"x" * (10 * 1024 * 1024 + 1), None, 413, "Request Too Long"),
        ("GET", "/health", b"", failing, 502, "Internal server error"),
    ],
)
def test_the_gateways_own_errors_carry_the_gateway_responses_headers(
    method: str, target: str, body: bytes, handler: Any, status: int, text: str
) -> None:
    api, _ = local_api(handler=handler)

    response = api.dispatch(request(method, target, ("X-Trace", "t-1"), body=body))

    assert response.status == status
    assert message(response) == text
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("x-amzn-RequestId")
    if status < 500:
        # DEFAULT_4XX maps X-Echo from the request's X-Trace header.
        assert response.header("X-Echo") == "t-1"


def test_a_request_refused_for_its_declared_length_carries_the_gateway_responses_headers_too() -> None:
    api, _ = local_api()

    response = api.reject_too_large(request("POST", "/predict"))

    assert (response.status, message(response)) == (413, "Request Too Long")
    assert response.header("Access-Control-Allow-Origin") == ORIGIN


def test_a_response_type_of_its_own_wins_over_default_4xx_and_may_change_the_status() -> None:
    throttled = """        THROTTLED:
          StatusCode: 503
          ResponseParameters:
            Headers: {Retry-After: "'1'"}
  Function:"""
    app = application(TEMPLATE.replace("  Function:", throttled, 1), RequireApiKey="false", Origin=ORIGIN)
    clock = [0.0]
    api, _ = local_api(app, throttle=True, clock=lambda: clock[0])

    statuses = [api.dispatch(request("GET", "/slow/")).status for _ in range(2)]
    refused = api.dispatch(request("GET", "/slow"))

    assert statuses == [200, 503]
    assert refused.header("Retry-After") == "1"
    assert refused.header("Access-Control-Allow-Origin") is None
    assert message(refused) == "Too Many Requests"


def test_an_unsupported_header_mapping_is_refused_at_start_up() -> None:
    broken = TEMPLATE.replace("X-Echo: method.request.header.X-Trace", "X-Echo: context.requestId")

    with pytest.raises(TemplateError, match="context.requestId"):
        application(broken)


# -- throttling --------------------------------------------------------------------------------------------------


def test_a_token_bucket_admits_its_burst_then_refills_at_its_rate() -> None:
    now = [100.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])

    burst = [bucket.take() for _ in range(4)]
    now[0] += 0.5
    after_half_a_second = [bucket.take() for _ in range(2)]
    now[0] += 60
    after_a_minute = [bucket.take() for _ in range(4)]

    assert burst == [True, True, True, False]
    assert after_half_a_second == [True, False]
    assert after_a_minute == [True, True, True, False]


def test_throttling_follows_method_settings_per_method_and_answers_429_too_many_requests() -> None:
    now = [0.0]
    api, events = local_api(application(RequireApiKey="false", Rate="2"), throttle=True, clock=lambda: now[0])

    predicts = [api.dispatch(request("POST", "/predict", body=b"{}")) for _ in range(4)]
    health = api.dispatch(request("GET", "/health"))
    now[0] += 0.5
    again = api.dispatch(request("POST", "/predict", body=b"{}"))

    assert [r.status for r in predicts] == [200, 200, 200, 429]
    assert predicts[3].body == b'{"message":"Too Many Requests"}'
    assert predicts[3].header("x-amzn-ErrorType") == "TooManyRequestsException"
    assert health.status == 200
    assert again.status == 200
    assert len(events) == 5


def test_throttling_is_off_unless_asked_for() -> None:
    api, events = local_api(application(RequireApiKey="false"))

    assert {api.dispatch(request("POST", "/predict", body=b"{}")).status for _ in range(20)} == {200}
    assert len(events) == 20


# -- Lambda's payload limits -------------------------------------------------------------------------------------


def overhead_of_event(app: Application) -> int:
    """Return the event's size minus its body's, for a POST /predict with an ASCII body."""
    route = next(r for r in app.routes if r.resource == "/predict" and not r.cors_preflight)
    event = build_event(request("POST", "/predict", body=b"x"), route, {}, app.apis["Api"], RequestIds.new())
    return lambda_payload_size(event) - 1


def test_an_event_over_lambdas_request_limit_is_answered_413_before_the_function_runs() -> None:
    app = application(RequireApiKey="false")
    api, events = local_api(app)
    fits = LAMBDA_REQUEST_LIMIT - overhead_of_event(app)

    at_limit = api.dispatch(request("POST", "/predict", body=b"x" * fits))
    over = api.dispatch(request("POST", "/predict", body=b"x" * (fits + 1)))

    assert at_limit.status == 200
    assert lambda_payload_size(events[0]) == LAMBDA_REQUEST_LIMIT
    assert over.status == 413
    assert over.body == b'{"message":"Request Too Long"}'
    assert over.header("x-amzn-ErrorType") == "BadRequestException"
    assert over.header("Access-Control-Allow-Origin") == "http://localhost:3000"
    assert len(events) == 1


def test_json_escapes_count_toward_the_event_size_like_the_bytes_lambda_receives() -> None:
    app = application(RequireApiKey="false")
    api, events = local_api(app)
    quotes = LAMBDA_REQUEST_LIMIT // 2

    # Each '"' in the body is two bytes once the body is a JSON string in the event.
    response = api.dispatch(request("POST", "/predict", body=b'"' * quotes))

    assert quotes < LAMBDA_REQUEST_LIMIT - overhead_of_event(app)
    assert response.status == 413
    assert events == []


def test_a_response_over_lambdas_response_limit_is_answered_502() -> None:
    big = "x" * LAMBDA_RESPONSE_LIMIT
    api, _ = local_api(application(RequireApiKey="false"), handler=lambda e, c: {"statusCode": 200, "body": big})

    response = api.dispatch(request("GET", "/health"))

    assert response.status == 502
    assert message(response) == "Internal server error"


# -- the project template, against what SAM itself generates -----------------------------------------------------


class OfflinePolicies:
    """Answer samtranslator's managed-policy lookups without IAM."""

    def load(self) -> dict[str, str]:
        return {}


def sam_openapi(parameters: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Return the OpenAPI body SAM generates for ChurnApi, after CloudFormation's language extensions."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    template = yaml_parse((PROJECT_ROOT / "template.yaml").read_text(encoding="utf-8"))
    pseudo = PseudoParameterValues(region="us-east-1", account_id="123456789012")
    template = process_template_for_sam_cli(template, parameters, pseudo)
    template["Transform"] = "AWS::Serverless-2016-10-31"
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://artifacts/code.zip"
    expanded = transform(copy.deepcopy(template), dict(parameters), OfflinePolicies())
    rest_api = next(r for r in expanded["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    body: dict[str, Any] = rest_api["Properties"]["Body"]
    return body


@pytest.mark.parametrize("require", ["true", "false"])
def test_the_project_templates_keyed_methods_and_preflight_headers_match_what_sam_deploys(
    require: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parameters = {
        "EndpointName": "churn-xgboost",
        "TransformBucket": "bucket",
        "RequireApiKey": require,
        "CorsAllowOrigin": ORIGIN,
    }
    body = sam_openapi(parameters, monkeypatch)
    app = Application.from_template(PROJECT_ROOT / "template.yaml", parameters)
    api = app.apis["ChurnApi"]

    for path, item in body["paths"].items():
        for method, definition in item.items():
            found = app.find_route(method.upper(), path)
            assert found is not None, (method, path)
            route = found[0]
            sam_keyed = any("api_key" in s for s in definition.get("security") or [])
            assert route.requires_api_key(api) is sam_keyed, (method, path)
            if method == "options":
                mock = definition["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
                expected = {k.removeprefix("method.response.header."): v.strip("'") for k, v in mock.items()}
                local = LocalApi(app, handlers={}, static_dir=None).dispatch(HttpRequest("OPTIONS", path))
                assert {k: local.header(k) for k in expected} == expected
    assert {r.method for r in app.routes} == {"POST", "GET", "OPTIONS"}
    assert any(r.requires_api_key(api) for r in app.routes) is (require == "true")
