"""The whole local stack over real HTTP with a broken dependency: stable 5xx codes, readiness naming the part."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.services.http_server import free_port
from tests.integration.conftest import (
    Stack,
    assert_clean_stop,
    predict,
    send,
    serve_command,
    start_stack,
)

# Each broken stack: --env overrides, the status and code POST /predict gets, and what GET /health/ready says is
# not ready (the endpoint's status, or the transformation's error).
BROKEN = {
    "unknown-endpoint": (
        ["ENDPOINT_NAME=churn-missing"],
        503,
        "MODEL_ENDPOINT_UNAVAILABLE",
        {"endpoint": "Unavailable"},
    ),
    # The endpoint down: its runtime (InvokeEndpoint) and its control plane (DescribeEndpoint) are both gone.
    "down": (
        ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={closed}", "AWS_ENDPOINT_URL_SAGEMAKER={closed}"],
        503,
        "MODEL_ENDPOINT_UNAVAILABLE",
        {"endpoint": "Unreachable"},
    ),
    "no-transformation": (
        ["TRANSFORM_KEY=missing.sav"],
        500,
        "TRANSFORMATION_UNAVAILABLE",
        {"transformation": "TRANSFORMATION_UNAVAILABLE"},
    ),
}


@dataclass(frozen=True)
class Broken:
    """A running stack with one broken dependency, and what it should answer."""

    stack: Stack
    status: int
    code: str
    not_ready: dict[str, str]


@pytest.fixture(scope="module", params=list(BROKEN))
def broken_stack(request: pytest.FixtureRequest, trained_artifacts: Path) -> Iterator[Broken]:
    """Run a second stack whose handler is pointed at something that fails."""
    overrides, status, code, not_ready = BROKEN[request.param]
    closed = f"http://127.0.0.1:{free_port()}"
    args = [arg for o in overrides for arg in ("--env", o.format(closed=closed))]
    running = start_stack(serve_command(trained_artifacts, *args))
    yield Broken(running, status, code, not_ready)
    assert_clean_stop(running)


def test_a_failing_dependency_is_answered_5xx_json_with_a_stable_code_and_the_stack_keeps_serving(
    broken_stack: Broken,
) -> None:
    stack, status, code = broken_stack.stack, broken_stack.status, broken_stack.code

    replies = [predict(stack, reference_payload()) for _ in range(2)]

    for reply in replies:
        assert reply.status == status, reply.body
        body = reply.json()
        assert body["error"]["code"] == code
        assert "Traceback" not in reply.body.decode()
    assert send("GET", f"{stack.api_url}/").status == 200


def test_readiness_answers_503_naming_the_part_that_is_not_ready_while_liveness_stays_200(broken_stack: Broken) -> None:
    stack = broken_stack.stack

    ready = send("GET", f"{stack.api_url}/health/ready")
    live = send("GET", f"{stack.api_url}/health")

    assert ready.status == 503, ready.body
    report = ready.json()
    assert report["status"] == "not ready"
    for part, expected in broken_stack.not_ready.items():
        assert report[part]["status" if part == "endpoint" else "error"] == expected
    assert live.status == 200
    assert live.json() == {"status": "ok"}


# -- health and Swagger on the healthy stack ---------------------------------------------------------------------


def test_readiness_on_the_healthy_stack_finds_the_transformation_loaded_and_the_endpoint_in_service(
    stack: Stack,
) -> None:
    reply = send("GET", f"{stack.api_url}/health/ready")

    assert reply.status == 200, reply.body
    body = reply.json()
    assert {k: v for k, v in body.items() if k != "model"} == {
        "status": "ready",
        "transformation": {"loaded": True},
        "endpoint": {"status": "InService"},
    }
    # The model is named too (tests/integration/test_model_provenance.py checks what)
    assert set(body["model"]) == {"version", "threshold", "served"}
