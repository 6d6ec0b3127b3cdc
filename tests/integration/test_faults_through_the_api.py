"""The function's answers under each injected fault, through the whole local stack (`serve` with short timeouts)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_api.errors import ERRORS
from churn_local import faults
from tests.integration.conftest import Reply, Stack, assert_clean_stop, predict, send, serve_command, start_stack
from tests.support import reference_payload

# Short enough for tests, long enough that the function's own answers come first.
FUNCTION_TIMEOUT_S = 4.0
INTEGRATION_TIMEOUT_S = 6.0
SLACK_S = 1.5
TIMEOUTS = ["--function-timeout", str(FUNCTION_TIMEOUT_S), "--integration-timeout", str(INTEGRATION_TIMEOUT_S)]
# The stable codes of the function's infrastructure errors (src/churn_api/errors.py).
STABLE_CODES = {error.code for error in ERRORS if error.status >= 500} - {"INTERNAL_ERROR"}


def switch(url: str, fault: str, delay_s: float = 0.0) -> None:
    body = json.dumps({"fault": fault, "delay_s": delay_s}).encode()
    urllib.request.urlopen(urllib.request.Request(url + faults.CONTROL_PATH, data=body, method="PUT"), timeout=5)


def calls(url: str) -> int:
    with urllib.request.urlopen(url + faults.CONTROL_PATH, timeout=5) as response:
        count: int = json.loads(response.read())["calls"]
    return count


def timed_predict(stack: Stack) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = predict(stack, reference_payload())
    return reply, time.monotonic() - started


def assert_stable_error(reply: Reply) -> str:
    """Check a 5xx whose JSON names a stable code; return the code."""
    assert 500 <= reply.status < 600, reply.body
    code: str = reply.json()["error"]["code"]
    assert code in STABLE_CODES
    assert "Traceback" not in reply.body.decode()
    return code


def running(trained_artifacts: Path, *options: str) -> Iterator[Stack]:
    """Run a stack with short timeouts and these options for one module."""
    stack = start_stack(serve_command(trained_artifacts, *TIMEOUTS, *options))
    yield stack
    assert_clean_stop(stack)


@pytest.fixture(scope="module")
def faulty_stack(trained_artifacts: Path) -> Iterator[Stack]:
    """A stack whose function times out after a few seconds; each test switches the endpoint's fault."""
    yield from running(trained_artifacts)


@pytest.fixture
def endpoint_fault(faulty_stack: Stack) -> Iterator[Any]:
    """Switch the endpoint's fault for one test, then back off; check the stack still scores afterwards."""

    def choose(fault: str, delay_s: float = 0.0) -> None:
        switch(faulty_stack.endpoint_url, fault, delay_s)

    yield choose
    switch(faulty_stack.endpoint_url, faults.NONE)
    assert predict(faulty_stack, reference_payload()).status == 200


# Today's answers, which the hardening keeps: (status, code).
ANSWERED_TODAY = {
    "throttle": (503, "MODEL_THROTTLED"),
    "model-error": (502, "MODEL_ERROR"),
    "garbage-count": (502, "MODEL_BAD_RESPONSE"),
}


@pytest.mark.parametrize("fault", list(ANSWERED_TODAY))
def test_an_endpoint_fault_is_answered_with_its_status_and_stable_code_in_time(
    faulty_stack: Stack, endpoint_fault: Any, fault: str
) -> None:
    endpoint_fault(fault)

    reply, elapsed = timed_predict(faulty_stack)

    assert (reply.status, assert_stable_error(reply)) == ANSWERED_TODAY[fault]
    assert elapsed < FUNCTION_TIMEOUT_S
    assert calls(faulty_stack.endpoint_url) >= 1


@pytest.mark.parametrize("fault", ["not-ready", "unavailable", "internal"])
def test_an_unavailable_endpoint_is_a_5xx_with_a_stable_code_in_time(
    faulty_stack: Stack, endpoint_fault: Any, fault: str
) -> None:
    endpoint_fault(fault)

    reply, elapsed = timed_predict(faulty_stack)

    assert_stable_error(reply)
    assert elapsed < FUNCTION_TIMEOUT_S


def test_a_slow_endpoint_still_scores(faulty_stack: Stack, endpoint_fault: Any) -> None:
    endpoint_fault("slow", 0.5)

    reply, elapsed = timed_predict(faulty_stack)

    assert reply.status == 200
    assert elapsed >= 0.5


def test_a_hung_endpoint_is_answered_5xx_by_the_functions_timeout_and_the_next_request_is_served(
    faulty_stack: Stack, endpoint_fault: Any
) -> None:
    endpoint_fault("hang")

    reply, elapsed = timed_predict(faulty_stack)

    # Today API Gateway's 502 once the function's Timeout kills it; once hardened, the function's own 504 first.
    assert reply.status in (502, 504), reply.body
    assert elapsed < FUNCTION_TIMEOUT_S + SLACK_S
    assert send("GET", f"{faulty_stack.api_url}/health").status == 200


def test_a_hung_endpoint_is_the_functions_own_model_timeout_after_one_call(
    faulty_stack: Stack, endpoint_fault: Any
) -> None:
    endpoint_fault("hang")

    reply, elapsed = timed_predict(faulty_stack)

    assert (reply.status, reply.json()["error"]["code"]) == (504, "MODEL_TIMEOUT")
    assert elapsed < FUNCTION_TIMEOUT_S
    assert calls(faulty_stack.endpoint_url) == 1


@pytest.mark.parametrize("fault", ["garbage-bytes", "garbage-booleans"])
def test_an_answer_that_is_not_scores_is_the_endpoints_fault_not_the_clients(
    faulty_stack: Stack, endpoint_fault: Any, fault: str
) -> None:
    endpoint_fault(fault)

    reply, _ = timed_predict(faulty_stack)

    assert (reply.status, reply.json()["error"]["code"]) == (502, "MODEL_BAD_RESPONSE")


@pytest.mark.parametrize("fault", ["throttle", "not-ready", "unavailable"])
def test_a_retryable_endpoint_fault_says_when_to_retry_names_nothing_internal_and_calls_at_most_twice(
    faulty_stack: Stack, endpoint_fault: Any, fault: str
) -> None:
    endpoint_fault(fault)

    reply, _ = timed_predict(faulty_stack)

    assert reply.status == 503
    assert "Retry-After" in reply.headers
    assert "churn-xgboost" not in reply.body.decode()
    assert calls(faulty_stack.endpoint_url) <= 2


# -- a SageMaker endpoint that is down, and S3 faults on the cold start --------------------------------------------


@pytest.fixture(scope="module")
def endpoint_down_stack(trained_artifacts: Path) -> Iterator[Stack]:
    """A stack whose function finds nothing listening at the SageMaker Runtime URL."""
    yield from running(trained_artifacts, "--endpoint-fault", "down")


def test_an_endpoint_that_is_down_is_a_503_with_a_stable_code_in_time(endpoint_down_stack: Stack) -> None:
    reply, elapsed = timed_predict(endpoint_down_stack)

    assert (reply.status, assert_stable_error(reply)) == (503, "MODEL_ENDPOINT_UNAVAILABLE")
    assert elapsed < FUNCTION_TIMEOUT_S
    assert calls(endpoint_down_stack.endpoint_url) == 0


@pytest.fixture(scope="module")
def s3_fault_stack(trained_artifacts: Path) -> Iterator[Stack]:
    """A stack whose S3 denies GetObject from the start, so the transformation never loads; tests switch it."""
    yield from running(trained_artifacts, "--s3-fault", "deny")


@pytest.mark.parametrize("fault", ["deny", "missing", "corrupt"])
def test_a_transformation_s3_will_not_give_is_a_500_transformation_unavailable(
    s3_fault_stack: Stack, fault: str
) -> None:
    switch(s3_fault_stack.s3_url, fault)

    reply, elapsed = timed_predict(s3_fault_stack)
    ready = send("GET", f"{s3_fault_stack.api_url}/health/ready")

    assert (reply.status, assert_stable_error(reply)) == (500, "TRANSFORMATION_UNAVAILABLE")
    assert elapsed < FUNCTION_TIMEOUT_S
    assert ready.status == 503


def test_a_hung_s3_is_answered_5xx_in_time_and_does_not_wedge_the_next_request(s3_fault_stack: Stack) -> None:
    switch(s3_fault_stack.s3_url, "hang")

    replies = [timed_predict(s3_fault_stack) for _ in range(2)]

    for reply, elapsed in replies:
        assert 500 <= reply.status < 600, reply.body
        assert elapsed < FUNCTION_TIMEOUT_S + SLACK_S
    assert send("GET", f"{s3_fault_stack.api_url}/health").status == 200


def test_readiness_answers_within_a_few_seconds_whatever_s3_does(s3_fault_stack: Stack) -> None:
    switch(s3_fault_stack.s3_url, "hang")

    started = time.monotonic()
    ready = send("GET", f"{s3_fault_stack.api_url}/health/ready")

    assert ready.status == 503
    assert time.monotonic() - started < FUNCTION_TIMEOUT_S - 1
