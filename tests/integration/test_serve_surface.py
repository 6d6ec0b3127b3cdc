"""What `make serve` shows and serves besides the API: Swagger, the banner and its curl, the demo page's files,
stopping and a port in use."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.training.reference_model import ReferenceModel
from tests.integration.conftest import (
    Stack,
    assert_clean_stop,
    clean_environment,
    port_is_free,
    send,
    serve_command,
    start_stack,
)


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
