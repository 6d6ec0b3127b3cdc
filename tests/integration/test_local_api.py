"""The whole local stack over real HTTP: scores, errors, concurrency, the printed curl, the demo page's files."""

from __future__ import annotations

import http.client
import json
import random
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.event_files import load_event, reference_payload
from churn_local.services.http_server import free_port
from churn_local.template.expansion import default_threshold
from churn_local.training.reference_model import ReferenceModel
from tests.integration.conftest import (
    Stack,
    assert_clean_stop,
    clean_environment,
    port_is_free,
    predict,
    send,
    serve_command,
    start_stack,
)

THRESHOLD = float(str(default_threshold()))
HELD_OUT_SAMPLE = 400


def assert_prediction(reply: Any, expected_score: float) -> None:
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["score"] == pytest.approx(expected_score, abs=1e-6)
    assert body["threshold"] == THRESHOLD
    assert body["churn"] is (body["score"] > THRESHOLD)
    assert body["label"] == str(body["score"] > THRESHOLD)


def assert_still_serving(stack: Stack, reference_model: ReferenceModel) -> None:
    assert_prediction(predict(stack, reference_payload()), reference_model.scores([reference_payload()])[0])


# -- scores ----------------------------------------------------------------------------------------------------------


def test_the_reference_customer_scores_what_xgboost_itself_predicts(
    stack: Stack, reference_model: ReferenceModel
) -> None:
    expected = reference_model.scores([reference_payload()])[0]

    reply = predict(stack, reference_payload())

    assert_prediction(reply, expected)
    assert reply.headers["Content-Type"] == "application/json"


def test_held_out_customers_score_what_xgboost_itself_predicts(
    stack: Stack, reference_model: ReferenceModel, held_out_payloads: list[dict[str, str]]
) -> None:
    step = max(1, len(held_out_payloads) // HELD_OUT_SAMPLE)
    sample = held_out_payloads[::step][:HELD_OUT_SAMPLE]
    expected = reference_model.scores(sample)

    scores = []
    for payload in sample:
        reply = predict(stack, payload)
        assert reply.status == 200, reply.body
        scores.append(reply.json()["score"])

    assert len(sample) >= 300
    assert scores == pytest.approx(expected, abs=1e-6)
    # The sample holds both outcomes, so the threshold is exercised both ways.
    assert {s > THRESHOLD for s in scores} == {True, False}


def test_the_order_of_the_json_keys_does_not_change_the_score(
    stack: Stack, reference_model: ReferenceModel, held_out_payloads: list[dict[str, str]]
) -> None:
    rng = random.Random(7)
    for payload in [reference_payload(), *held_out_payloads[:5]]:
        keys = list(payload)
        rng.shuffle(keys)
        shuffled = {k: payload[k] for k in keys}
        assert list(shuffled) != list(payload)

        assert predict(stack, shuffled).json()["score"] == predict(stack, payload).json()["score"]
        assert_prediction(predict(stack, shuffled), reference_model.scores([payload])[0])


def test_numbers_sent_as_json_numbers_score_like_numeric_strings(stack: Stack) -> None:
    as_strings = reference_payload()
    as_numbers: dict[str, Any] = {
        k: (v if k in ("State", "Phone", "Int'l Plan", "VMail Plan") else json.loads(v)) for k, v in as_strings.items()
    }

    assert predict(stack, as_numbers).json()["score"] == predict(stack, as_strings).json()["score"]


def test_fifty_concurrent_requests_each_get_their_own_customers_score(
    stack: Stack, reference_model: ReferenceModel, held_out_payloads: list[dict[str, str]]
) -> None:
    payloads = held_out_payloads[-50:]
    expected = reference_model.scores(payloads)

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(lambda p: predict(stack, p), payloads))

    assert [r.status for r in replies] == [200] * 50
    assert [r.json()["score"] for r in replies] == pytest.approx(expected, abs=1e-6)
    assert len({r.headers["x-amzn-RequestId"] for r in replies}) == 50


# -- errors ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["api-predict-unknown-state", "api-predict-missing-field", "api-predict-non-numeric"])
def test_the_error_events_are_answered_400_naming_what_differs_from_the_reference_and_the_stack_keeps_serving(
    stack: Stack, reference_model: ReferenceModel, event: str
) -> None:
    body = load_event(event)["body"]
    sent, reference = json.loads(body), reference_payload()
    differing = {k for k in reference if sent.get(k) != reference[k]}

    reply = predict(stack, body)

    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {d["field"] for d in error["details"]} == differing
    assert_still_serving(stack, reference_model)


def test_the_malformed_json_event_is_answered_400_about_the_body(stack: Stack, reference_model: ReferenceModel) -> None:
    reply = predict(stack, load_event("api-predict-malformed-json")["body"])

    assert reply.status == 400, reply.body
    assert reply.json()["error"]["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in reply.json()["error"]["details"]] == ["body"]
    assert_still_serving(stack, reference_model)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"State": "XX"}, "State"),
        ({"Area Code": "999"}, "Area Code"),
        ({"Int'l Plan": "maybe"}, "Int'l Plan"),
        ({"Day Mins": "abc"}, "Day Mins"),
        ({"Day Calls": "-4"}, "Day Calls"),
        ({"Night Calls": True}, "Night Calls"),
        ({"Eve Mins": None}, "Eve Mins"),
    ],
)
def test_a_bad_value_is_answered_400_naming_the_field(
    stack: Stack, reference_model: ReferenceModel, change: dict[str, Any], field: str
) -> None:
    reply = predict(stack, {**reference_payload(), **change})

    assert reply.status == 400, reply.body
    assert [d["field"] for d in reply.json()["error"]["details"]] == [field]
    assert_still_serving(stack, reference_model)


def test_a_missing_field_is_answered_400_saying_it_is_required(stack: Stack) -> None:
    payload = reference_payload()
    del payload["CustServ Calls"]

    reply = predict(stack, payload)

    assert reply.status == 400
    assert reply.json()["error"]["details"] == [{"field": "CustServ Calls", "problem": "is required"}]


@pytest.mark.parametrize("body", ["", "[]", "[1, 2]", '"text"', "{not json", "null"])
def test_a_body_that_is_not_a_customer_object_is_answered_400_json(
    stack: Stack, reference_model: ReferenceModel, body: str
) -> None:
    reply = predict(stack, body)

    assert reply.status == 400, reply.body
    assert reply.json()["error"]["code"] == "VALIDATION_ERROR"
    assert_still_serving(stack, reference_model)


@pytest.mark.parametrize(("method", "path"), [("POST", "/nope"), ("GET", "/predict"), ("DELETE", "/predict")])
def test_a_route_the_template_does_not_declare_is_answered_403_like_api_gateway(
    stack: Stack, reference_model: ReferenceModel, method: str, path: str
) -> None:
    reply = send(method, f"{stack.api_url}{path}", "{}" if method == "POST" else None)

    assert reply.status == 403
    assert reply.json() == {"message": "Missing Authentication Token"}
    assert_still_serving(stack, reference_model)


def test_every_answer_carries_api_gateways_request_and_trace_ids(stack: Stack) -> None:
    replies = [predict(stack, reference_payload()), send("POST", f"{stack.api_url}/nope", "{}")]

    for reply in replies:
        assert reply.headers["x-amzn-RequestId"]
        assert reply.headers["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert replies[0].headers["x-amzn-RequestId"] != replies[1].headers["x-amzn-RequestId"]


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
    assert reply.json() == {
        "status": "ready",
        "transformation": {"loaded": True},
        "endpoint": {"status": "InService"},
    }


def test_swagger_ui_is_on_locally_and_self_contained(stack: Stack) -> None:
    page = send("GET", f"{stack.api_url}/swagger")

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "SwaggerUIBundle" in html
    # Powertools inlines the Swagger UI script and style: nothing is fetched from another host.
    assert re.search(r"""(src|href)=["']?(https?:)?//""", html) is None


def test_swaggers_openapi_document_lists_the_routes_and_points_try_it_out_at_the_local_url(stack: Stack) -> None:
    document = send("GET", f"{stack.api_url}/swagger?format=json").json()

    assert {"/predict", "/predict/batch", "/health", "/health/ready"} <= set(document["paths"])
    # No stage prefix: the local URL is like a custom domain, so "Try it out" must call /predict, not /Prod/predict.
    assert document["servers"] == [{"url": "/"}]


# -- the printed curl, the ready line, stopping ------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_printed_curl_command_scores_the_reference_customer(stack: Stack, reference_model: ReferenceModel) -> None:
    command = next(line.strip() for line in stack.stdout if line.strip().startswith("curl "))
    assert stack.api_url in command

    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30, check=True)  # noqa: S602

    assert json.loads(result.stdout)["score"] == pytest.approx(reference_model.scores([reference_payload()])[0])


def test_the_banner_names_the_demo_page_and_the_endpoint(stack: Stack) -> None:
    printed = "".join(stack.stdout)

    assert f"{stack.api_url}/predict" in printed
    assert f"{stack.endpoint_url}/endpoints/churn-xgboost/invocations" in printed
    assert stack.s3_url in printed


def test_the_banner_lists_the_templates_routes_swagger_and_the_front_end_settings(stack: Stack) -> None:
    lines = [line.strip() for line in stack.stdout]

    for method, path in [("POST", "/predict"), ("POST", "/predict/batch"), ("GET", "/health/ready")]:
        assert any(line.split() == [method, f"{stack.api_url}{path}"] for line in lines), path
    assert f"Swagger UI               {stack.api_url}/swagger" in lines
    # The template's default origin, which is not the API's own.
    assert "CORS allowed origin      http://localhost:3000" in lines
    assert "API key                  not required" in lines
    assert "Throttling               off" in lines


def test_sigterm_stops_the_stack_with_exit_code_0_and_frees_its_ports(trained_artifacts: Path) -> None:
    running = start_stack(serve_command(trained_artifacts))
    assert send("GET", f"{running.api_url}/").status == 200

    assert_clean_stop(running, signal.SIGTERM)


def test_a_port_in_use_is_reported_in_one_line_without_a_traceback(trained_artifacts: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = serve_command(trained_artifacts)
        command[command.index("--api-port") + 1] = str(port)

        result = subprocess.run(
            command, cwd=PROJECT_ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120
        )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert f"port {port}" in errors[0]
    assert "--api-port" in errors[0]
    assert port_is_free(port)


# -- the demo page's files (the browser tests drive the page itself) ----------------------------------------------


def test_the_demo_page_and_its_assets_are_served_at_the_root(stack: Stack) -> None:
    page = send("GET", f"{stack.api_url}/")
    script = send("GET", f"{stack.api_url}/app.js")
    style = send("GET", f"{stack.api_url}/style.css")

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert b'id="customer-form"' in page.body
    assert script.status == 200
    assert "javascript" in script.headers["Content-Type"]
    assert style.status == 200
    assert style.headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/%2e%2e/pyproject.toml", "/..%2fpyproject.toml", "/none.js"])
def test_files_outside_the_demo_folder_are_not_served(stack: Stack, path: str) -> None:
    host, port = stack.api_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 403
    assert b"[project]" not in body


def test_the_demo_page_builds_its_form_from_the_checked_in_contract_whose_examples_are_the_reference_customer(
    stack: Stack,
) -> None:
    # GIVEN the page's form is built from openapi.json beside it, WHEN it is fetched from the local API
    served = send("GET", f"{stack.api_url}/openapi.json")

    # THEN it is docs/openapi.json, and each field's example is the reference customer's value
    assert served.status == 200
    assert served.json() == json.loads((PROJECT_ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    customer = served.json()["components"]["schemas"]["Customer"]
    assert {name: schema["examples"][0] for name, schema in customer["properties"].items()} == reference_payload()
