"""CORS and API keys as a front end meets them over real HTTP: preflights, keyed routes, the banner, the key flag."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.event_files import reference_payload
from tests.integration.conftest import (
    API_KEY,
    ReferenceModel,
    Stack,
    StaticSite,
    clean_environment,
    cross_origin_post,
    send,
    serve_command,
)

KEYED_ROUTES = [("POST", "/predict"), ("POST", "/predict/batch")]
OPEN_ROUTES = [("GET", "/health"), ("GET", "/health/ready"), ("GET", "/swagger")]


# -- CORS --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), KEYED_ROUTES + OPEN_ROUTES)
def test_the_preflight_is_answered_200_with_the_allowed_origin_and_needs_no_key(
    front_end_stack: Stack, static_site: StaticSite, method: str, path: str
) -> None:
    reply = send(
        "OPTIONS",
        f"{front_end_stack.api_url}{path}",
        Origin=static_site.origin,
        Access_Control_Request_Method=method,
        Access_Control_Request_Headers="content-type,x-api-key",
    )

    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == static_site.origin
    assert set(reply.headers["Access-Control-Allow-Headers"].lower().split(",")) >= {"content-type", "x-api-key"}
    assert method in reply.headers["Access-Control-Allow-Methods"].split(",")
    assert reply.headers["Access-Control-Max-Age"] == "600"


def test_a_scored_customer_comes_back_with_the_functions_cors_headers_for_the_allowed_origin(
    front_end_stack: Stack, static_site: StaticSite, reference_model: ReferenceModel
) -> None:
    status, headers, body = cross_origin_post(
        front_end_stack, "/predict", reference_payload(), static_site.origin, API_KEY
    )

    assert status == 200, body
    assert json.loads(body)["score"] == pytest.approx(reference_model.scores([reference_payload()])[0], abs=1e-6)
    assert headers["Access-Control-Allow-Origin"] == static_site.origin
    # The page reads the request id, which cross-origin scripts only see when it is exposed.
    assert "x-amzn-requestid" in headers["Access-Control-Expose-Headers"].lower()


def test_a_validation_error_carries_the_cors_headers_so_the_page_can_show_it(
    front_end_stack: Stack, static_site: StaticSite
) -> None:
    status, headers, body = cross_origin_post(
        front_end_stack, "/predict", {**reference_payload(), "State": "XX"}, static_site.origin, API_KEY
    )

    assert status == 400
    assert headers["Access-Control-Allow-Origin"] == static_site.origin
    assert json.loads(body)["error"]["details"][0]["field"] == "State"


def test_another_origin_gets_no_cors_headers_from_the_function(front_end_stack: Stack) -> None:
    status, headers, _ = cross_origin_post(
        front_end_stack, "/predict", reference_payload(), "http://evil.example", API_KEY
    )

    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


def test_an_unknown_route_is_api_gateways_403_with_the_gateway_responses_cors_headers(
    front_end_stack: Stack, static_site: StaticSite
) -> None:
    reply = send("POST", f"{front_end_stack.api_url}/nope", "{}", Origin=static_site.origin)

    assert reply.status == 403
    assert reply.json() == {"message": "Missing Authentication Token"}
    assert reply.headers["Access-Control-Allow-Origin"] == static_site.origin


# -- API keys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), KEYED_ROUTES)
@pytest.mark.parametrize("key", [None, "", "not-the-key-0123456789", API_KEY[:-1]])
def test_the_scoring_routes_answer_403_forbidden_without_the_key_with_cors_headers(
    front_end_stack: Stack, static_site: StaticSite, method: str, path: str, key: str | None
) -> None:
    status, headers, body = cross_origin_post(
        front_end_stack, path, {"customers": [reference_payload()]}, static_site.origin, key
    )

    assert status == 403
    assert json.loads(body) == {"message": "Forbidden"}
    assert headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert headers["Access-Control-Allow-Origin"] == static_site.origin


@pytest.mark.parametrize(("method", "path"), OPEN_ROUTES)
def test_health_and_swagger_stay_open_when_keys_are_required(front_end_stack: Stack, method: str, path: str) -> None:
    assert send(method, f"{front_end_stack.api_url}{path}").status == 200


def test_a_batch_with_the_key_scores_every_customer_in_order(
    front_end_stack: Stack,
    static_site: StaticSite,
    held_out_payloads: list[dict[str, str]],
    reference_model: ReferenceModel,
) -> None:
    customers = held_out_payloads[:25]

    status, _, body = cross_origin_post(
        front_end_stack, "/predict/batch", {"customers": customers}, static_site.origin, API_KEY
    )

    assert status == 200, body
    results = json.loads(body)["results"]
    assert [r["index"] for r in results] == list(range(25))
    assert [r["score"] for r in results] == pytest.approx(reference_model.scores(customers), abs=1e-6)


def test_the_banner_says_which_routes_need_the_key_and_the_curl_sends_it(
    front_end_stack: Stack, static_site: StaticSite
) -> None:
    lines = [line.strip() for line in front_end_stack.stdout]

    assert f"POST  {front_end_stack.api_url}/predict  (x-api-key required)" in lines
    assert f"GET   {front_end_stack.api_url}/health" in lines
    assert f"CORS allowed origin      {static_site.origin}" in lines
    assert "API key                  required: header x-api-key" in lines
    curl = next(line for line in lines if line.startswith("curl "))
    assert f"-H 'x-api-key: {API_KEY}'" in curl


def run_serve(
    trained_artifacts: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        serve_command(trained_artifacts, *extra),
        cwd=PROJECT_ROOT,
        env=env or clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("origin", ["*", "http://localhost:3000/app", "localhost:3000", "https://a.example, https://b"])
def test_an_origin_the_templates_parameter_refuses_stops_serve_with_one_line(
    trained_artifacts: Path, origin: str
) -> None:
    result = run_serve(trained_artifacts, "--cors-origin", origin)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "CorsAllowOrigin" in errors[0]


@pytest.mark.parametrize("key", ["short-key", "x" * 129, "has a space in it 0123456789"])
def test_a_key_api_gateway_would_not_take_is_refused_by_the_command_line(trained_artifacts: Path, key: str) -> None:
    result = run_serve(trained_artifacts, "--api-key", key)

    assert result.returncode == 2
    assert "--api-key" in result.stderr
    assert "20 to 128" in result.stderr


def test_the_key_can_come_from_the_environment_instead_of_the_command_line(trained_artifacts: Path) -> None:
    env = {**clean_environment(), "CHURN_API_KEY": "short"}

    result = run_serve(trained_artifacts, env=env)

    assert result.returncode == 2
    assert "CHURN_API_KEY" in result.stderr
