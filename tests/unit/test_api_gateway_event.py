"""The local API Gateway without sockets: template routes, proxy events, proxy responses, gateway errors."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from churn_local.api_gateway import (
    ApiSpec,
    Application,
    HttpRequest,
    HttpResponse,
    LambdaContext,
    LocalApi,
    MalformedProxyResponse,
    RequestIds,
    TemplateError,
    build_event,
    function_environment,
    translate_response,
)
from tests.support import PROJECT_ROOT

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  StageName: {Type: String, Default: Prod}
  EndpointName: {Type: String}
  Threshold: {Type: Number, Default: 0.39}
Globals:
  Function:
    Timeout: 25
    MemorySize: 1024
    Environment:
      Variables:
        POWERTOOLS_SERVICE_NAME: churn-api
Resources:
  ChurnApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref StageName
      BinaryMediaTypes: ["image~1png", "application~1octet-stream"]
  ChurnFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: churn_api.app.lambda_handler
      Environment:
        Variables:
          ENDPOINT_NAME: !Ref EndpointName
          THRESHOLD: !Ref Threshold
          REGION_TAG: !Sub "${AWS::Region}-churn"
      Events:
        Predict:
          Type: Api
          Properties: {RestApiId: !Ref ChurnApi, Path: /predict, Method: post}
        Customer:
          Type: Api
          Properties: {RestApiId: !Ref ChurnApi, Path: "/customers/{id}", Method: get}
        CustomerNamed:
          Type: Api
          Properties: {RestApiId: !Ref ChurnApi, Path: /customers/me, Method: get}
        Files:
          Type: Api
          Properties: {RestApiId: !Ref ChurnApi, Path: "/files/{path+}", Method: any}
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: other/
      Handler: other.handler
      Events:
        Ping:
          Type: Api
          Properties: {Path: /ping, Method: ANY}
        Queue:
          Type: SQS
          Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:q}
"""


def application(**overrides: str) -> Application:
    return Application.from_text(TEMPLATE, Path("/project"), overrides or {"EndpointName": "churn-xgboost"})


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(event)}


def local_api(handler: Any = echo) -> LocalApi:
    app = application()
    return LocalApi(app, handlers={"ChurnFunction": handler, "OtherFunction": handler}, static_dir=None)


def request(method: str = "POST", target: str = "/predict", headers: Any = (), body: bytes = b"") -> HttpRequest:
    return HttpRequest(method, target, tuple(headers), body, source_ip="192.0.2.7", server_port=3000)


def event_for(req: HttpRequest, api: LocalApi | None = None) -> dict[str, Any]:
    response = (api or local_api()).dispatch(req)
    assert response.status == 200, response.body
    event: dict[str, Any] = json.loads(response.body)
    return event


# -- the template ------------------------------------------------------------------------------------------------


def test_api_events_become_routes_and_other_event_types_are_ignored() -> None:
    routes = {(r.method, r.resource, r.function, r.api) for r in application().routes}

    assert routes == {
        ("POST", "/predict", "ChurnFunction", "ChurnApi"),
        ("GET", "/customers/{id}", "ChurnFunction", "ChurnApi"),
        ("GET", "/customers/me", "ChurnFunction", "ChurnApi"),
        ("ANY", "/files/{path+}", "ChurnFunction", "ChurnApi"),
        ("ANY", "/ping", "OtherFunction", "ServerlessRestApi"),
    }


def test_function_settings_come_from_the_function_and_the_globals() -> None:
    spec = application().functions["ChurnFunction"]

    assert spec.code_uri == Path("/project/src")
    assert spec.handler == "churn_api.app.lambda_handler"
    assert (spec.timeout_s, spec.memory_mb) == (25, 1024)
    assert spec.environment["POWERTOOLS_SERVICE_NAME"] == "churn-api"


def test_environment_is_resolved_from_parameter_overrides_defaults_and_pseudo_parameters() -> None:
    env = application(EndpointName="my-endpoint", Threshold="0.5").functions["ChurnFunction"].environment

    assert env["ENDPOINT_NAME"] == "my-endpoint"
    assert env["THRESHOLD"] == "0.5"
    assert env["REGION_TAG"].endswith("-churn")
    assert application().functions["ChurnFunction"].environment["THRESHOLD"] == "0.39"


def test_a_parameter_without_default_or_override_must_be_supplied_before_loading() -> None:
    app = Application.from_text(TEMPLATE, Path("/project"))

    assert app.functions["ChurnFunction"].environment["ENDPOINT_NAME"] is None
    with pytest.raises(TemplateError, match="ENDPOINT_NAME"):
        function_environment(app, {})
    assert function_environment(app, {"ENDPOINT_NAME": "given"})["ENDPOINT_NAME"] == "given"


def test_environment_overrides_win_and_undeclared_ones_are_passed_on() -> None:
    env = function_environment(application(), {"THRESHOLD": "0.7", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"})

    assert env["THRESHOLD"] == "0.7"
    assert env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:1"
    assert env["ENDPOINT_NAME"] == "churn-xgboost"


def test_an_override_for_an_undeclared_parameter_is_refused() -> None:
    with pytest.raises(TemplateError, match="Nope"):
        Application.from_text(TEMPLATE, Path("/project"), {"Nope": "x"})


def test_the_stage_comes_from_the_parameter_and_the_implicit_api_deploys_to_prod() -> None:
    app = application(StageName="dev", EndpointName="e")

    assert app.apis["ChurnApi"].stage == "dev"
    assert app.apis["ServerlessRestApi"].stage == "Prod"
    assert app.apis["ChurnApi"].binary_media_types == ("image/png", "application/octet-stream")


def test_two_events_claiming_the_same_method_and_path_are_refused() -> None:
    duplicated = TEMPLATE.replace("Path: /customers/me, Method: get", "Path: /predict, Method: post")

    with pytest.raises(TemplateError, match="POST /predict"):
        Application.from_text(duplicated, Path("/project"), {"EndpointName": "e"})


def test_the_project_template_routes_post_predict_to_the_churn_function() -> None:
    app = Application.from_template(
        PROJECT_ROOT / "template.yaml", {"EndpointName": "churn-xgboost", "TransformBucket": "bucket"}
    )

    found = app.find_route("POST", "/predict")
    assert found is not None
    route, params = found
    assert (route.function, params) == ("ChurnFunction", {})
    spec = app.functions[route.function]
    assert spec.handler == "churn_api.app.lambda_handler"
    assert spec.code_uri == PROJECT_ROOT / "src"
    assert {"ENDPOINT_NAME", "TRANSFORM_BUCKET", "TRANSFORM_KEY", "THRESHOLD"} <= set(spec.environment)


# -- route matching ------------------------------------------------------------------------------------------------


def test_path_parameters_are_extracted_and_url_decoded() -> None:
    found = application().find_route("GET", "/customers/a%20b")

    assert found is not None
    assert found[0].resource == "/customers/{id}"
    assert found[1] == {"id": "a b"}


def test_a_literal_segment_wins_over_a_path_parameter() -> None:
    found = application().find_route("GET", "/customers/me")

    assert found is not None
    assert found[0].resource == "/customers/me"
    assert found[1] == {}


def test_a_greedy_parameter_takes_the_rest_of_the_path_for_any_method() -> None:
    for method in ("GET", "DELETE", "PUT"):
        found = application().find_route(method, "/files/a/b/c.txt")
        assert found is not None
        assert found[1] == {"path": "a/b/c.txt"}
    assert application().find_route("GET", "/files") is None


def test_a_trailing_slash_reaches_the_same_resource_but_an_empty_segment_does_not() -> None:
    assert application().find_route("POST", "/predict/") is not None
    assert application().find_route("POST", "//predict") is None


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/predict"), ("POST", "/nowhere"), ("POST", "/predict/extra"), ("GET", "/"), ("POST", "/Predict")],
)
def test_an_unknown_method_or_path_gets_api_gateways_403_missing_authentication_token(method: str, target: str) -> None:
    called: list[Any] = []
    api = local_api(lambda event, context: called.append(event))

    response = api.dispatch(request(method, target))

    assert response.status == 403
    assert json.loads(response.body) == {"message": "Missing Authentication Token"}
    assert response.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert response.header("x-amzn-RequestId")
    assert called == []


# -- the proxy event ---------------------------------------------------------------------------------------------


def test_the_event_carries_method_resource_path_and_body() -> None:
    event = event_for(request("POST", "/predict", [("Content-Type", "application/json")], b'{"State": "SC"}'))

    assert event["httpMethod"] == "POST"
    assert event["resource"] == "/predict"
    assert event["path"] == "/predict"
    assert event["body"] == '{"State": "SC"}'
    assert event["isBase64Encoded"] is False
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None


def test_the_request_context_names_the_stage_and_keeps_the_path_as_requested_like_a_custom_domain() -> None:
    api = LocalApi(application(StageName="dev", EndpointName="e"), handlers={"ChurnFunction": echo}, static_dir=None)

    context = event_for(request(), api)["requestContext"]

    assert context["stage"] == "dev"
    # The local URL has no stage segment, so neither has the path: Powertools would otherwise point Swagger UI's
    # requests at /dev/predict, which only exists on the execute-api URL.
    assert context["path"] == "/predict"
    assert context["resourcePath"] == "/predict"
    assert context["httpMethod"] == "POST"
    assert context["identity"]["sourceIp"] == "192.0.2.7"
    assert len(context["apiId"]) == 10
    assert abs(context["requestTimeEpoch"] / 1000 - time.time()) < 60


def test_repeated_headers_are_all_in_multi_value_headers_and_the_last_one_in_headers() -> None:
    event = event_for(request(headers=[("Accept", "text/html"), ("X-Tag", "a"), ("X-Tag", "b")]))

    assert event["multiValueHeaders"]["X-Tag"] == ["a", "b"]
    assert event["headers"]["X-Tag"] == "b"
    assert event["headers"]["Accept"] == "text/html"


def test_api_gateway_adds_forwarding_and_trace_headers() -> None:
    event = event_for(request(headers=[("X-Forwarded-For", "203.0.113.1")]))

    assert event["headers"]["X-Forwarded-For"] == "203.0.113.1, 192.0.2.7"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["headers"]["X-Forwarded-Port"] == "3000"
    assert event["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")


def test_query_strings_keep_every_value_and_headers_keep_the_last() -> None:
    event = event_for(request(target="/predict?tag=a&tag=b&empty=&q=x%20y"))

    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "empty": [""], "q": ["x y"]}
    assert event["queryStringParameters"] == {"tag": "b", "empty": "", "q": "x y"}


def test_no_query_string_and_no_body_are_null_like_api_gateway_sends_them() -> None:
    event = event_for(request())

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None


def test_a_binary_media_type_body_arrives_base64_encoded() -> None:
    payload = bytes(range(256))

    event = event_for(request(headers=[("Content-Type", "application/octet-stream")], body=payload))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_a_body_that_is_not_utf8_arrives_base64_encoded_instead_of_mangled() -> None:
    payload = b"\xff\xfe{not utf-8}"

    event = event_for(request(headers=[("Content-Type", "application/json")], body=payload))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_text_bodies_arrive_as_text_even_with_non_ascii_characters() -> None:
    event = event_for(request(headers=[("Content-Type", "application/json")], body='{"State": "Zürich"}'.encode()))

    assert event["isBase64Encoded"] is False
    assert event["body"] == '{"State": "Zürich"}'


def test_every_request_gets_its_own_request_id_echoed_in_the_response_headers() -> None:
    api = local_api()

    responses = [api.dispatch(request()) for _ in range(5)]

    ids = [json.loads(r.body)["requestContext"]["requestId"] for r in responses]
    assert len(set(ids)) == 5
    assert [r.header("x-amzn-RequestId") for r in responses] == ids
    assert all(r.header("X-Amzn-Trace-Id") for r in responses)


def test_the_event_can_be_built_directly_for_a_route() -> None:
    app = application()
    route = next(r for r in app.routes if r.resource == "/files/{path+}")
    ids = RequestIds.new(now=1_700_000_000.0)

    event = build_event(request("PUT", "/files/x/y"), route, {"path": "x/y"}, app.apis["ChurnApi"], ids)

    assert event["pathParameters"] == {"path": "x/y"}
    assert event["requestContext"]["requestTime"] == "14/Nov/2023:22:13:20 +0000"
    assert event["requestContext"]["requestTimeEpoch"] == 1_700_000_000_000
    assert event["requestContext"]["requestId"] == ids.request_id


# -- the Lambda context ------------------------------------------------------------------------------------------


def test_the_handler_gets_a_lambda_context_shaped_like_the_python_runtimes() -> None:
    seen: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(context)
        return {"statusCode": 204}

    api = local_api(handler)
    api.dispatch(request())
    api.dispatch(request())

    first, second = seen
    assert isinstance(first, LambdaContext)
    assert first.function_name.endswith("ChurnFunction")
    assert first.invoked_function_arn.startswith("arn:aws:lambda:")
    assert first.invoked_function_arn.endswith(f":function:{first.function_name}")
    assert first.memory_limit_in_mb == "1024"
    assert 0 < first.get_remaining_time_in_millis() <= 25_000
    assert first.aws_request_id != second.aws_request_id


# -- the proxy response ------------------------------------------------------------------------------------------


API = ApiSpec("ChurnApi", "Prod", ("image/png",))


def translate(output: Any, accept: str | None = None) -> HttpResponse:
    headers = [("Accept", accept)] if accept else []
    return translate_response(output, API, request(headers=headers))


def test_status_headers_and_body_are_passed_to_the_client() -> None:
    response = translate({"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-N": 5}, "body": "héllo"})

    assert response.status == 201
    assert ("Content-Type", "text/plain") in response.headers
    assert ("X-N", "5") in response.headers
    assert response.body == "héllo".encode()


def test_multi_value_headers_are_merged_with_headers_without_repeating_a_pair() -> None:
    response = translate(
        {
            "statusCode": 200,
            "headers": {"Set-Cookie": "a=1", "X-One": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "",
        }
    )

    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert ("X-One", "1") in response.headers


def test_a_response_without_content_type_is_labelled_json() -> None:
    assert translate({"statusCode": 200, "body": "{}"}).header("Content-Type") == "application/json"


def test_a_base64_body_is_decoded_when_the_client_accepts_a_binary_media_type() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x01"
    output = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(png).decode(),
        "isBase64Encoded": True,
    }

    assert translate(output, accept="image/png").body == png
    # A REST API converts only for a binary media type the client accepts; otherwise the text passes as it is.
    assert translate(output, accept="application/json").body == base64.b64encode(png)


def test_a_missing_body_is_an_empty_response() -> None:
    assert translate({"statusCode": 204}).body == b""


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("not a dict", "not an object"),
        (None, "not an object"),
        ({"body": "{}"}, "statusCode"),
        ({"statusCode": "abc"}, "statusCode"),
        ({"statusCode": 99}, "statusCode"),
        ({"statusCode": True}, "statusCode"),
        ({"statusCode": 200, "body": {"score": 0.5}}, "body must be a string"),
        ({"statusCode": 200, "headers": ["X"]}, "headers must be an object"),
        ({"statusCode": 200, "multiValueHeaders": {"X": "not a list"}}, "must be a list"),
        ({"statusCode": 200, "headers": {"X": {"nested": 1}}}, "header values"),
        ({"statusCode": 200, "headers": {"X": "a\r\nInjected: 1"}}, "line break"),
        ({"statusCode": 200, "isBase64Encoded": "yes"}, "isBase64Encoded"),
        ({"statusCode": 200, "body": "{}", "extra": 1}, "unexpected keys"),
    ],
)
def test_a_malformed_proxy_response_is_refused(output: Any, reason: str) -> None:
    with pytest.raises(MalformedProxyResponse, match=reason):
        translate(output)


@pytest.mark.parametrize(
    "output", [{"body": "{}"}, {"statusCode": 200, "body": {"score": 0.5}}, ["statusCode", 200], "ok"]
)
def test_a_malformed_handler_output_is_answered_with_502_internal_server_error(output: Any) -> None:
    response = local_api(lambda event, context: output).dispatch(request())

    assert response.status == 502
    assert json.loads(response.body) == {"message": "Internal server error"}
    assert response.header("x-amzn-RequestId")


def test_a_handler_exception_is_answered_with_502_without_leaking_it() -> None:
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("secret detail")

    response = local_api(broken).dispatch(request())

    assert response.status == 502
    assert json.loads(response.body) == {"message": "Internal server error"}
    assert b"secret" not in response.body


def test_a_body_over_the_10_mb_payload_quota_is_answered_413_before_the_handler_runs() -> None:
    called: list[Any] = []
    api = local_api(lambda event, context: called.append(event))

    response = api.dispatch(request(body=b"x" * (10 * 1024 * 1024 + 1)))

    assert response.status == 413
    assert called == []


# -- concurrency -------------------------------------------------------------------------------------------------


def test_one_function_never_runs_two_invocations_at_once_like_a_lambda_environment() -> None:
    active = 0
    overlaps = 0
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal active, overlaps
        with lock:
            active += 1
            overlaps += active > 1
        time.sleep(0.01)
        with lock:
            active -= 1
        return {"statusCode": 200, "body": event["body"]}

    api = local_api(handler)
    results: dict[int, bytes] = {}

    def call(i: int) -> None:
        results[i] = api.dispatch(request(body=str(i).encode())).body

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert overlaps == 0
    assert results == {i: str(i).encode() for i in range(16)}
