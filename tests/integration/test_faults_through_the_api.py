"""Every injected fault through the whole local stack over real HTTP: status, code, Retry-After, time and calls.

The stacks run with a FUNCTION_TIMEOUT_S function Timeout, so a request's budget (churn_api.budget) is that minus
ANSWER_MARGIN_S, and a timeout takes seconds instead of 25. Each answer is checked to be exactly the error's code,
message and request id (nothing internal), the number of calls the faulty service counted, and how long the client
waited: one round trip for an answer that waits on nothing, the budget for one that waits on a hang.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from churn_api.budget import (
    ANSWER_MARGIN_S,
    INVOKE_ATTEMPTS,
    INVOKE_BACKOFF_S,
    LOAD_RETRY_AFTER_S,
    READY_BUDGET_S,
    S3_ATTEMPTS,
)
from churn_api.endpoint import CLIENT_ERRORS
from churn_api.errors import (
    ApiError,
    ModelBadResponse,
    ModelEndpointUnavailable,
    ModelTimeout,
    TransformationUnavailable,
)
from churn_api.predictor import DEFAULT_CHUNK_ROWS, MAX_PARALLEL_CALLS
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.services import faults
from tests.integration.conftest import Reply, Stack, assert_clean_stop, predict, send, serve_command, start_stack
from tests.integration.fault_answers import calls, fault_answer, internal_names, logged_failure, switch, timed

FUNCTION_TIMEOUT_S = 4.0
# Past the function's Timeout, so every answer below is the function's own.
INTEGRATION_TIMEOUT_S = 6.0
BUDGET_S = FUNCTION_TIMEOUT_S - ANSWER_MARGIN_S
# An answer that waits on nothing comes well inside this, even on a busy machine; it is under the budget, so it
# tells "answered at once" from "waited for the deadline".
ROUND_TRIP_S = 2.0
# The function's deadline starts a little after the client's clock does.
EARLY_S = 0.1
SLOW_DELAY_S = 0.5
TIMEOUTS = ["--function-timeout", str(FUNCTION_TIMEOUT_S), "--integration-timeout", str(INTEGRATION_TIMEOUT_S)]


def running(trained_artifacts: Path, *options: str) -> Iterator[Stack]:
    """Run a stack with short timeouts and these options; stopping it must be clean."""
    stack = start_stack(serve_command(trained_artifacts, *TIMEOUTS, *options))
    yield stack
    assert_clean_stop(stack)


def timed_predict(stack: Stack) -> tuple[Reply, float]:
    return timed(lambda: predict(stack, reference_payload()))


def assert_answered_at_once(elapsed: float) -> None:
    assert elapsed < ROUND_TRIP_S


def assert_answered_at_the_deadline(elapsed: float) -> None:
    assert BUDGET_S - EARLY_S <= elapsed < FUNCTION_TIMEOUT_S


# -- SageMaker endpoint faults -------------------------------------------------------------------------------------

# The error the local endpoint answers for each fault, as SageMaker Runtime names it
# (churn_local.services.sagemaker_endpoint).
SAGEMAKER_ERRORS = {
    "throttle": "ThrottlingException",
    "not-ready": "ModelNotReadyException",
    "model-error": "ModelError",
    "unavailable": "ServiceUnavailable",
    "internal": "InternalFailure",
}


@dataclass(frozen=True)
class Expected:
    """What the client gets for one fault: the error, how many calls reach the service, whether it waits."""

    error: type[ApiError]
    calls: int = 1
    waits_for_the_deadline: bool = False


ENDPOINT_MATRIX = {
    # SageMaker answered: mapped as the scorer maps its code, never retried.
    **{fault: Expected(CLIENT_ERRORS[code]) for fault, code in SAGEMAKER_ERRORS.items()},
    "garbage-bytes": Expected(ModelBadResponse),
    "garbage-booleans": Expected(ModelBadResponse),
    "garbage-count": Expected(ModelBadResponse),
    # A read timeout is never retried: SageMaker goes on computing the first call.
    "hang": Expected(ModelTimeout, waits_for_the_deadline=True),
}


def test_the_matrix_covers_every_fault_the_local_services_can_inject() -> None:
    # "none" and "slow" answer 200; "down" needs its own stack (it is chosen at start only).
    assert {*ENDPOINT_MATRIX, faults.NONE, "slow", "down"} == set(faults.ENDPOINT_FAULTS)
    assert {*S3_MATRIX, faults.NONE} == set(faults.S3_FAULTS)


@pytest.fixture(scope="module")
def endpoint_stack(trained_artifacts: Path) -> Iterator[Stack]:
    """A stack whose tests switch the endpoint's fault."""
    yield from running(trained_artifacts)


@pytest.fixture
def endpoint_fault(endpoint_stack: Stack) -> Iterator[Any]:
    """Switch the endpoint's fault for one test (the transformation is loaded first); then check it scores again."""
    assert predict(endpoint_stack, reference_payload()).status == 200

    def choose(fault: str, delay_s: float = 0.0) -> None:
        switch(endpoint_stack.endpoint_url, fault, delay_s)

    yield choose
    switch(endpoint_stack.endpoint_url, faults.NONE)
    assert predict(endpoint_stack, reference_payload()).status == 200


@pytest.mark.parametrize("fault", list(ENDPOINT_MATRIX))
def test_each_endpoint_fault_is_its_documented_error_after_its_calls_in_time(
    endpoint_stack: Stack, endpoint_fault: Any, fault: str
) -> None:
    expected = ENDPOINT_MATRIX[fault]
    endpoint_fault(fault)

    reply, elapsed = timed_predict(endpoint_stack)

    internal = [*internal_names(endpoint_stack), *SAGEMAKER_ERRORS.values(), "ReadTimeout"]
    assert fault_answer(reply, expected.error, internal) == expected.error.retry_after
    assert calls(endpoint_stack.endpoint_url) == expected.calls
    if expected.waits_for_the_deadline:
        assert_answered_at_the_deadline(elapsed)
    else:
        assert_answered_at_once(elapsed)


def test_a_slow_endpoint_inside_the_budget_scores_after_one_call(endpoint_stack: Stack, endpoint_fault: Any) -> None:
    endpoint_fault("slow", SLOW_DELAY_S)

    reply, elapsed = timed_predict(endpoint_stack)

    assert reply.status == 200, reply.body
    assert 0.0 <= reply.json()["score"] <= 1.0
    assert calls(endpoint_stack.endpoint_url) == 1
    assert SLOW_DELAY_S <= elapsed < BUDGET_S


def test_a_batch_of_several_chunks_against_a_hung_endpoint_is_one_504_in_time_one_call_per_chunk(
    endpoint_stack: Stack, endpoint_fault: Any
) -> None:
    customers = [reference_payload()] * (2 * DEFAULT_CHUNK_ROWS + 1)
    chunks = math.ceil(len(customers) / DEFAULT_CHUNK_ROWS)
    assert 1 < chunks <= MAX_PARALLEL_CALLS
    endpoint_fault("hang")

    reply, elapsed = timed(lambda: send("POST", f"{endpoint_stack.api_url}/predict/batch", {"customers": customers}))

    assert fault_answer(reply, ModelTimeout, internal_names(endpoint_stack)) is None
    # The chunks run at once under one deadline; none is retried.
    assert calls(endpoint_stack.endpoint_url) == chunks
    assert_answered_at_the_deadline(elapsed)


def test_readiness_answers_at_once_while_invocations_hang(endpoint_stack: Stack, endpoint_fault: Any) -> None:
    endpoint_fault("hang")

    reply, elapsed = timed(lambda: send("GET", f"{endpoint_stack.api_url}/health/ready"))

    # Readiness describes the endpoint (the control plane); it never waits on an invocation.
    assert reply.status == 200, reply.body
    assert calls(endpoint_stack.endpoint_url) == 0
    assert_answered_at_once(elapsed)


@pytest.fixture(scope="module")
def endpoint_down_stack(trained_artifacts: Path) -> Iterator[Stack]:
    """A stack whose function finds nothing listening at the SageMaker Runtime URL."""
    yield from running(trained_artifacts, "--endpoint-fault", "down")


def test_an_endpoint_that_is_down_is_tried_again_once_then_answered_503_with_retry_after(
    endpoint_down_stack: Stack,
) -> None:
    reply, elapsed = timed_predict(endpoint_down_stack)

    retry_after = fault_answer(reply, ModelEndpointUnavailable, internal_names(endpoint_down_stack))
    assert retry_after == ModelEndpointUnavailable.retry_after
    # Nothing reached the endpoint; the refused connections are tried INVOKE_ATTEMPTS times, INVOKE_BACKOFF_S apart,
    # so the answer cannot come sooner than the backoffs between them.
    assert calls(endpoint_down_stack.endpoint_url) == 0
    assert (INVOKE_ATTEMPTS - 1) * INVOKE_BACKOFF_S <= elapsed < ROUND_TRIP_S
    assert "cannot connect" in logged_failure(endpoint_down_stack, reply)["internal"]


# -- S3 faults on a cold container ---------------------------------------------------------------------------------

S3_MATRIX = {
    "deny": Expected(TransformationUnavailable),
    "missing": Expected(TransformationUnavailable),
    # The pinned sha256 refuses the bytes before they are unpickled.
    "corrupt": Expected(TransformationUnavailable),
    # botocore's standard mode tries a read timeout again: S3_ATTEMPTS calls at most, however long the load waits.
    "hang": Expected(TransformationUnavailable, calls=S3_ATTEMPTS, waits_for_the_deadline=True),
}
# Why the function refused, as logged (never answered).
S3_REASONS = {"deny": "(AccessDenied)", "missing": "(NoSuchKey)", "corrupt": "sha256 mismatch", "hang": "budget"}
BURST = 4


@pytest.fixture(scope="module", params=list(S3_MATRIX))
def s3_stack(request: pytest.FixtureRequest, trained_artifacts: Path) -> Iterator[tuple[Stack, str]]:
    """A fresh stack (its transformation not loaded yet) whose S3 misbehaves from the start."""
    for stack in running(trained_artifacts, "--s3-fault", request.param):
        yield stack, request.param


def test_each_s3_fault_is_500_transformation_unavailable_in_time_and_a_burst_after_it_does_not_call_s3(
    s3_stack: tuple[Stack, str],
) -> None:
    stack, fault = s3_stack
    expected = S3_MATRIX[fault]
    internal = [*internal_names(stack), S3_REASONS[fault]]

    first, elapsed = timed_predict(stack)

    # A failed load answers the first backoff; a load still running when the budget ends, the error's own.
    retry_after = TransformationUnavailable.retry_after if expected.waits_for_the_deadline else LOAD_RETRY_AFTER_S[0]
    assert fault_answer(first, TransformationUnavailable, internal) == retry_after
    assert S3_REASONS[fault] in logged_failure(stack, first)["internal"]
    if expected.waits_for_the_deadline:
        assert_answered_at_the_deadline(elapsed)
    else:
        assert_answered_at_once(elapsed)
    assert 1 <= calls(stack.s3_url) <= expected.calls

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        burst = list(pool.map(lambda _: timed_predict(stack), range(BURST)))

    for reply, waited in burst:
        # From the remembered failure (or the one load still running): Retry-After counts the backoff down.
        assert fault_answer(reply, TransformationUnavailable, internal) in range(1, LOAD_RETRY_AFTER_S[0] + 1)
        assert waited < FUNCTION_TIMEOUT_S
    # No request of the burst started another load.
    assert 1 <= calls(stack.s3_url) <= expected.calls


def test_readiness_tries_s3_again_after_the_backoff_and_answers_within_its_budget_whatever_s3_does(
    s3_stack: tuple[Stack, str],
) -> None:
    stack, fault = s3_stack
    # Past the first backoff, whether or not a failure is remembered: readiness must load again.
    time.sleep(LOAD_RETRY_AFTER_S[0] + 0.2)
    before = calls(stack.s3_url)

    reply, elapsed = timed(lambda: send("GET", f"{stack.api_url}/health/ready"))

    assert reply.status == 503, reply.body
    assert reply.json()["transformation"] == {"loaded": False, "error": TransformationUnavailable.code}
    assert calls(stack.s3_url) > before
    if S3_MATRIX[fault].waits_for_the_deadline:
        assert READY_BUDGET_S - EARLY_S <= elapsed < READY_BUDGET_S + ROUND_TRIP_S
    else:
        assert_answered_at_once(elapsed)
