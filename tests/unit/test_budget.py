"""budget.py's arithmetic, checked against the template's Timeout and API Gateway's 29 s integration timeout."""

from __future__ import annotations

import pytest

from churn_api import budget
from churn_api.budget import (
    ANSWER_MARGIN_S,
    DESCRIBE_CONNECT_TIMEOUT_S,
    DESCRIBE_READ_TIMEOUT_S,
    EAGER_LOAD_BUDGET_S,
    INVOKE_ATTEMPTS,
    INVOKE_BACKOFF_S,
    INVOKE_CONNECT_TIMEOUT_S,
    INVOKE_MIN_ATTEMPT_S,
    INVOKE_READ_TIMEOUT_S,
    READY_BUDGET_S,
    S3_ATTEMPTS,
    S3_CONNECT_TIMEOUT_S,
    S3_READ_TIMEOUT_S,
)
from churn_local.constants import INTEGRATION_TIMEOUT_S, PROJECT_ROOT
from churn_local.template.expansion import load_template

# Lambda's init phase (outside SnapStart's restore) is limited to 10 s (Lambda developer guide, "Lambda execution
# environment lifecycle").
LAMBDA_INIT_LIMIT_S = 10.0
# botocore's standard retry mode waits at most min(2 ** (attempt - 1), 20) s before attempt + 1 (its
# retries.standard.ExponentialBackoff: "t_i = rand(0, 1) * min(2 ** attempt, MAX_BACKOFF)", 0-based).
BOTOCORE_MAX_BACKOFF_S = 20


def function_timeout_s() -> float:
    """Return the function's Timeout as the template sets it (its own, else the Globals')."""
    template = load_template()
    own = template["Resources"]["ChurnFunction"]["Properties"].get("Timeout")
    return float(own if own is not None else template["Globals"]["Function"]["Timeout"])


def request_budget_s() -> float:
    return function_timeout_s() - ANSWER_MARGIN_S


def standard_mode_backoffs_s(attempts: int) -> float:
    return sum(min(2**retry, BOTOCORE_MAX_BACKOFF_S) for retry in range(attempts - 1))


def test_the_function_answers_before_api_gateway_gives_up() -> None:
    # GIVEN the template's Timeout and the answer margin, THEN a request's budget ends before both run out
    assert 0 < request_budget_s() < function_timeout_s() < INTEGRATION_TIMEOUT_S


def test_the_worst_invoke_endpoint_retry_fits_a_whole_request_budget() -> None:
    # Every attempt may wait out its connect timeout; only the last one reaches SageMaker and reads.
    worst = (
        INVOKE_ATTEMPTS * INVOKE_CONNECT_TIMEOUT_S + (INVOKE_ATTEMPTS - 1) * INVOKE_BACKOFF_S + INVOKE_READ_TIMEOUT_S
    )
    assert worst <= request_budget_s()
    # A second attempt is only started with at least a connect timeout of budget left.
    assert INVOKE_MIN_ATTEMPT_S >= INVOKE_CONNECT_TIMEOUT_S


def test_botocore_makes_one_invoke_endpoint_attempt_with_the_budgeted_timeouts() -> None:
    config = budget.sagemaker_runtime_config()
    assert (config.connect_timeout, config.read_timeout) == (INVOKE_CONNECT_TIMEOUT_S, INVOKE_READ_TIMEOUT_S)
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}


def test_the_worst_transformation_load_fits_the_eager_budget_inside_lambdas_init_limit() -> None:
    config = budget.s3_config()
    assert config.retries == {"mode": "standard", "total_max_attempts": S3_ATTEMPTS}
    worst = S3_ATTEMPTS * (S3_CONNECT_TIMEOUT_S + S3_READ_TIMEOUT_S) + standard_mode_backoffs_s(S3_ATTEMPTS)
    assert worst <= EAGER_LOAD_BUDGET_S < LAMBDA_INIT_LIMIT_S
    assert worst <= request_budget_s()


def test_readiness_answers_inside_the_function_timeout_with_time_for_one_describe() -> None:
    config = budget.sagemaker_config()
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert DESCRIBE_CONNECT_TIMEOUT_S + DESCRIBE_READ_TIMEOUT_S <= READY_BUDGET_S < request_budget_s()


@pytest.mark.parametrize("where", ["src/churn_api/budget.py", "docs/api.md"])
def test_the_prose_states_the_budget_the_arithmetic_gives(where: str) -> None:
    text = " ".join((PROJECT_ROOT / where).read_text(encoding="utf-8").split())
    assert f"{request_budget_s():g} s" in text
    assert f"{function_timeout_s():g} s" in text
    assert f"{INTEGRATION_TIMEOUT_S:g} s" in text
