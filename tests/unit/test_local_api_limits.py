"""The local API's limits: throttling, payload quotas, the function's Timeout and the 29 s integration timeout."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from churn_local.apigw.events import RequestIds, build_event, lambda_payload_over, lambda_payload_size
from churn_local.apigw.gateway import LAMBDA_REQUEST_LIMIT, LAMBDA_RESPONSE_LIMIT, TokenBucket
from churn_local.lambda_runtime.context import LambdaContext
from tests.unit.local_api_support import application, local_api, message, recorder, request

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


def test_throttling_follows_the_stage_settings_per_method_and_answers_429_too_many_requests() -> None:
    now = [0.0]
    events, handler = recorder()
    app = application(ThrottleRateLimit="2", ThrottleBurstLimit="3")
    api = local_api(handler, app, throttle=True, clock=lambda: now[0])

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
    events, handler = recorder()
    api = local_api(handler, application(ThrottleRateLimit="1", ThrottleBurstLimit="1"))

    assert {api.dispatch(request("POST", "/predict", body=b"{}")).status for _ in range(20)} == {200}
    assert len(events) == 20


# -- Lambda's payload limits -------------------------------------------------------------------------------------


def overhead_of_event() -> int:
    """Return the event's size minus its body's, for a POST /predict with an ASCII body."""
    api = application().api
    event = build_event(request(body=b"x"), api.methods[("/predict", "POST")], api, RequestIds.new())
    return lambda_payload_size(event) - 1


@pytest.mark.parametrize(
    "body", ["\x01" * 1000, "é" * 1000, '"' * 1000, "x" * 1000], ids=["control", "utf8", "quote", "ascii"]
)
def test_a_payloads_size_over_a_limit_is_exact_whatever_its_body_escapes_to(body: str) -> None:
    payload = {"statusCode": 200, "body": body}
    size = lambda_payload_size(payload)

    assert lambda_payload_over(payload, size - 1) == size
    assert lambda_payload_over(payload, size) is None
    assert lambda_payload_over(payload, 10 * size) is None


def test_an_event_over_lambdas_request_limit_is_answered_413_before_the_function_runs() -> None:
    events, handler = recorder()
    api = local_api(handler)
    fits = LAMBDA_REQUEST_LIMIT - overhead_of_event()

    at_limit = api.dispatch(request(body=b"x" * fits))
    over = api.dispatch(request(body=b"x" * (fits + 1)))

    assert at_limit.status == 200
    assert lambda_payload_size(events[0]) == LAMBDA_REQUEST_LIMIT
    assert over.status == 413
    assert over.body == b'{"message":"Request Too Long"}'
    assert over.header("x-amzn-ErrorType") == "BadRequestException"
    assert over.header("Access-Control-Allow-Origin") == "http://localhost:3000"
    assert len(events) == 1


def test_json_escapes_count_toward_the_event_size_like_the_bytes_lambda_receives() -> None:
    events, handler = recorder()
    quotes = LAMBDA_REQUEST_LIMIT // 2

    # Each '"' in the body is two bytes once the body is a JSON string in the event.
    response = local_api(handler).dispatch(request(body=b'"' * quotes))

    assert quotes < LAMBDA_REQUEST_LIMIT - overhead_of_event()
    assert response.status == 413
    assert events == []


def test_a_response_over_lambdas_response_limit_is_answered_502() -> None:
    big = "x" * LAMBDA_RESPONSE_LIMIT

    response = local_api(lambda e, c: {"statusCode": 200, "body": big}).dispatch(request("GET", "/health"))

    assert response.status == 502
    assert message(response) == "Internal server error"


# -- one invocation at a time, and the time limits ---------------------------------------------------------------


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


def hanging(release: threading.Event) -> Any:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event["body"] == "hang":
            release.wait(30)
        return {"statusCode": 200, "body": "done"}

    return handler


def hang_then_call(**timeouts: float) -> tuple[Any, Any, float, Any]:
    """Invoke a function that hangs, then one that answers; return the API, both answers and the first's time."""
    release = threading.Event()
    api = local_api(hanging(release), **timeouts)
    try:
        started = time.monotonic()
        timed_out = api.dispatch(request(body=b"hang"))
        elapsed = time.monotonic() - started
        after = api.dispatch(request(body=b"fine"))
    finally:
        release.set()
    return api, timed_out, elapsed, after


def test_a_function_past_its_timeout_is_api_gateways_502_and_the_next_invocation_gets_a_fresh_environment() -> None:
    api, timed_out, elapsed, after = hang_then_call(function_timeout_s=0.3, integration_timeout_s=5)

    assert (timed_out.status, message(timed_out)) == (502, "Internal server error")
    assert timed_out.header("x-amzn-RequestId")
    assert 0.3 <= elapsed < 2
    assert (after.status, after.body) == (200, b"done")
    assert api.containers["ChurnFunction"].environments_started == 2


def test_past_the_integration_timeout_api_gateway_answers_504_endpoint_request_timed_out() -> None:
    _, timed_out, elapsed, after = hang_then_call(function_timeout_s=5, integration_timeout_s=0.3)

    assert (timed_out.status, message(timed_out)) == (504, "Endpoint request timed out")
    assert timed_out.header("Access-Control-Allow-Origin") == "http://localhost:3000"
    assert 0.3 <= elapsed < 2
    assert after.status == 200


def test_the_handler_gets_a_lambda_context_whose_remaining_time_is_the_functions_timeout() -> None:
    seen: list[LambdaContext] = []

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        seen.append(context)
        return {"statusCode": 204}

    local_api(handler).dispatch(request())
    local_api(handler, function_timeout_s=2).dispatch(request())

    default, shortened = seen
    assert 24_000 < default.get_remaining_time_in_millis() <= 25_000
    assert 1_000 < shortened.get_remaining_time_in_millis() <= 2_000
