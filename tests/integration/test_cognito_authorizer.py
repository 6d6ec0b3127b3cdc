"""`serve --parameter CognitoUserPoolArn=...` over real HTTP: the predict routes need an Authorization header."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from tests.integration.conftest import (
    ReferenceModel,
    Stack,
    assert_clean_stop,
    send,
    serve_command,
    start_stack,
)

USER_POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"
ORIGIN = "http://127.0.0.1:5173"
GUARDED_ROUTES = ["/predict", "/predict/batch"]


@pytest.fixture(scope="module")
def cognito_stack(trained_artifacts: Path) -> Iterator[Stack]:
    """Run a stack with the template's Cognito user pool authorizer on and a front end's origin allowed."""
    authorizer = ["--parameter", f"CognitoUserPoolArn={USER_POOL}"]
    running = start_stack(serve_command(trained_artifacts, *authorizer, "--cors-origin", ORIGIN))
    yield running
    assert_clean_stop(running)


def body_for(path: str) -> dict[str, object]:
    return reference_payload() if path == "/predict" else {"customers": [reference_payload()]}


@pytest.mark.parametrize("path", GUARDED_ROUTES)
def test_a_predict_route_without_the_authorization_header_is_api_gateways_401_with_cors_headers(
    cognito_stack: Stack, path: str
) -> None:
    reply = send("POST", f"{cognito_stack.api_url}{path}", body_for(path), Origin=ORIGIN)

    assert reply.status == 401
    assert reply.json() == {"message": "Unauthorized"}
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert reply.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_any_bearer_token_reaches_the_function_which_scores_the_customer(
    cognito_stack: Stack, reference_model: ReferenceModel
) -> None:
    reply = send("POST", f"{cognito_stack.api_url}/predict", reference_payload(), Authorization="Bearer x")

    assert reply.status == 200, reply.body
    assert reply.json()["score"] == pytest.approx(reference_model.scores([reference_payload()])[0], abs=1e-6)


@pytest.mark.parametrize("path", ["/health", "/health/ready"])
def test_the_health_routes_need_no_header(cognito_stack: Stack, path: str) -> None:
    assert send("GET", f"{cognito_stack.api_url}{path}").status == 200


@pytest.mark.parametrize("path", GUARDED_ROUTES)
def test_the_preflight_needs_no_header_and_lets_the_browser_send_authorization(cognito_stack: Stack, path: str) -> None:
    reply = send(
        "OPTIONS",
        f"{cognito_stack.api_url}{path}",
        Origin=ORIGIN,
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="authorization,content-type",
    )

    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in reply.headers["Access-Control-Allow-Headers"].lower().split(",")


def test_the_banner_names_the_guarded_routes_and_its_curl_passes(cognito_stack: Stack) -> None:
    lines = [line.strip() for line in cognito_stack.stdout]

    assert f"POST  {cognito_stack.api_url}/predict  (Authorization header required)" in lines
    assert f"POST  {cognito_stack.api_url}/predict/batch  (Authorization header required)" in lines
    assert f"GET   {cognito_stack.api_url}/health" in lines
    assert any("NOT verified locally" in line for line in lines if line.startswith("Cognito authorizer"))
    curl = shlex.split(next(line for line in lines if line.startswith("curl ")))
    headers = [curl[i + 1] for i, word in enumerate(curl) if word == "-H"]
    token = next(h.split(": ", 1)[1] for h in headers if h.startswith("Authorization: "))
    body = curl[curl.index("-d") + 1]

    reply = send("POST", curl[curl.index("-X") + 2], body, Content_Type="application/json", Authorization=token)

    assert reply.status == 200, reply.body
