"""The REST API (v1) Lambda proxy event the local API builds, and how it turns the proxy response into HTTP."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import replace
from typing import Any

import pytest

from churn_local.apigw.events import HttpResponse, MalformedProxyResponse, RequestIds, build_event, translate_response
from churn_local.lambda_runtime.context import LambdaContext
from tests.unit.local_api_support import application, local_api, request

PREDICT = application().api.methods[("/predict", "POST")]
# The project's API declares no binary media types; these tests give it some.
BINARY_API = replace(application().api, binary_media_types=("image/png", "application/octet-stream"))


def event_for(req: Any, api: Any = None) -> dict[str, Any]:
    response = (api or local_api()).dispatch(req)
    assert response.status == 200, response.body
    event: dict[str, Any] = json.loads(response.body)
    return event


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
    api = local_api(app=application(StageName="dev"))

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
    req = request(headers=[("Content-Type", "application/octet-stream")], body=payload)

    event = build_event(req, PREDICT, BINARY_API, RequestIds.new())

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


def test_the_event_can_be_built_directly_for_a_method() -> None:
    ids = RequestIds.new(now=1_700_000_000.0)

    event = build_event(request(), PREDICT, application().api, ids)

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


def test_invocations_share_their_environments_log_stream_and_a_fresh_environment_gets_a_new_one() -> None:
    # GIVEN a function whose second invocation outlives its Timeout (Lambda throws that environment away)
    seen: list[LambdaContext] = []

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        seen.append(context)
        if len(seen) == 2:
            time.sleep(0.5)
        return {"statusCode": 204}

    api = local_api(handler, function_timeout_s=0.2)
    # WHEN it is invoked three times
    statuses = [api.dispatch(request()).status for _ in range(3)]

    # THEN the first two share one log stream, named as Lambda names it, and the fresh environment has its own
    first, second, third = (context.log_stream_name for context in seen)
    assert statuses == [204, 502, 204]
    assert first == second != third
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", first)


# -- the proxy response ------------------------------------------------------------------------------------------


def translate(output: Any, accept: str | None = None) -> HttpResponse:
    headers = [("Accept", accept)] if accept else []
    return translate_response(output, BINARY_API, request(headers=headers))


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
