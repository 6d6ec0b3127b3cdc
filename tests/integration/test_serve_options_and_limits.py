"""serve's switches and the size limits over real HTTP: batches too large, --no-swagger, --throttle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from churn_local.apigw.gateway import LAMBDA_REQUEST_LIMIT, MAX_BODY_BYTES
from churn_local.lambda_runtime.event_files import reference_payload
from tests.integration.conftest import (
    API_KEY,
    Stack,
    StaticSite,
    assert_clean_stop,
    cross_origin_post,
    send,
    serve_command,
    start_stack,
)

# -- what is too large for Lambda --------------------------------------------------------------------------------


def test_a_batch_over_the_handlers_limit_but_under_lambdas_is_the_functions_413_with_its_code(
    front_end_stack: Stack, static_site: StaticSite
) -> None:
    customers = [reference_payload()] * 1001

    status, headers, body = cross_origin_post(
        front_end_stack, "/predict/batch", {"customers": customers}, static_site.origin, API_KEY
    )

    assert status == 413
    assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert headers["Access-Control-Allow-Origin"] == static_site.origin


def test_a_batch_whose_event_is_over_lambdas_6_mb_is_api_gateways_413_request_too_long_with_cors_headers(
    front_end_stack: Stack, static_site: StaticSite
) -> None:
    one = len(json.dumps(reference_payload()))
    customers = [reference_payload()] * (LAMBDA_REQUEST_LIMIT // one + 1)
    body = json.dumps({"customers": customers})
    assert LAMBDA_REQUEST_LIMIT < len(body) < MAX_BODY_BYTES

    status, headers, answer = cross_origin_post(
        front_end_stack, "/predict/batch", {"customers": customers}, static_site.origin, API_KEY
    )

    assert status == 413
    assert json.loads(answer) == {"message": "Request Too Long"}
    assert headers["x-amzn-ErrorType"] == "BadRequestException"
    assert headers["Access-Control-Allow-Origin"] == static_site.origin
    # The stack is unharmed.
    assert cross_origin_post(front_end_stack, "/predict", reference_payload(), static_site.origin, API_KEY)[0] == 200


# -- serve flags that start other stacks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def locked_down_stack(trained_artifacts: Path) -> Iterator[Stack]:
    """Run a stack as deployed by default (no Swagger), throttled to 1 request/s with a burst of 3."""
    running = start_stack(
        serve_command(
            trained_artifacts,
            "--no-swagger",
            "--throttle",
            "--parameter",
            "ThrottleRateLimit=1",
            "--parameter",
            "ThrottleBurstLimit=3",
        )
    )
    yield running
    assert_clean_stop(running)


def test_no_swagger_turns_swagger_off_like_the_deployed_default(locked_down_stack: Stack) -> None:
    reply = send("GET", f"{locked_down_stack.api_url}/swagger")

    assert reply.status == 404
    assert reply.json()["error"]["code"] == "NOT_FOUND"
    assert "  Swagger UI               off\n" in locked_down_stack.stdout


def test_throttling_answers_429_too_many_requests_past_the_burst(locked_down_stack: Stack) -> None:
    # Ten requests at once against a burst of 3 at 1/s: however they interleave, at most 3 plus what refills while
    # they run get through.
    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(lambda _: send("GET", f"{locked_down_stack.api_url}/health"), range(10)))

    statuses = [r.status for r in replies]
    assert statuses.count(200) >= 1
    assert statuses.count(429) >= 1
    assert set(statuses) == {200, 429}
    refused = next(r for r in replies if r.status == 429)
    assert refused.json() == {"message": "Too Many Requests"}
    assert any(
        line.strip() == "Throttling               1 requests/s, burst 3, per method"
        for line in locked_down_stack.stdout
    )
