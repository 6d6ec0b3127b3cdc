"""The Postman collection, run by newman against a local stack that requires an API key and allows one origin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from tests.integration.conftest import Stack, assert_clean_stop, serve_command, start_stack

POSTMAN = PROJECT_ROOT / "postman"
COLLECTION = POSTMAN / "churn-api.postman_collection.json"
LOCAL_ENVIRONMENT = POSTMAN / "local.postman_environment.json"
DEPLOYED_ENVIRONMENT = POSTMAN / "deployed.postman_environment.json"
NEWMAN = PROJECT_ROOT / "node_modules" / ".bin" / "newman"
FOLDERS = ["Health", "Single", "Batch", "Errors", "CORS", "API key"]
NEWMAN_TIMEOUT_S = 300


def environment_values(path: Path) -> dict[str, str]:
    """Return an environment file's enabled variables."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return {v["key"]: v["value"] for v in document["values"] if v.get("enabled", True)}


def script_lines(item: dict[str, Any], listen: str) -> list[str]:
    """Return the lines of an item's (or the collection's) scripts for one event."""
    return [line for event in item.get("event", []) if event["listen"] == listen for line in event["script"]["exec"]]


def written_tests(item: dict[str, Any]) -> int:
    """Count the pm.test calls in an item's test script."""
    return sum(line.count("pm.test(") for line in script_lines(item, "test"))


def requests_by_folder(collection: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return each top-level folder's requests."""
    return {folder["name"]: folder["item"] for folder in collection["item"]}


@pytest.fixture(scope="module")
def collection() -> dict[str, Any]:
    """Load the collection file."""
    document: dict[str, Any] = json.loads(COLLECTION.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def newman() -> Path:
    """Return the newman that `npm ci` installed; skip without it on a laptop, but fail in CI, which must run it."""
    if not NEWMAN.exists() or shutil.which("node") is None:
        message = f"{NEWMAN.relative_to(PROJECT_ROOT)} or node is missing: run `npm ci` in {PROJECT_ROOT}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return NEWMAN


@pytest.fixture(scope="module")
def secured_stack(trained_artifacts: Path) -> Iterator[Stack]:
    """Run a stack that requires the local environment's API key and allows its origin."""
    local = environment_values(LOCAL_ENVIRONMENT)
    running = start_stack(
        serve_command(trained_artifacts, "--api-key", local["apiKey"], "--cors-origin", local["origin"])
    )
    yield running
    assert_clean_stop(running)


@pytest.fixture(scope="module")
def newman_report(newman: Path, secured_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the collection once with the local environment pointed at the stack, and return newman's JSON report."""
    report = tmp_path_factory.mktemp("newman") / "report.json"
    command = [
        str(newman),
        "run",
        str(COLLECTION),
        "-e",
        str(LOCAL_ENVIRONMENT),
        "--env-var",
        f"baseUrl={secured_stack.api_url}",
        "--reporters",
        "cli,json",
        "--reporter-json-export",
        str(report),
        "--color",
        "off",
        "--disable-unicode",
    ]
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=NEWMAN_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"newman failed:\n{result.stdout}\n{result.stderr}"
    document: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return document


def test_every_assertion_of_the_collection_passes_against_the_local_stack(newman_report: dict[str, Any]) -> None:
    run = newman_report["run"]

    assert run["failures"] == []
    assert run["stats"]["assertions"]["failed"] == 0
    assert run["stats"]["requests"]["failed"] == 0
    assert run["stats"]["testScripts"]["failed"] == 0
    assert run["stats"]["prerequestScripts"]["failed"] == 0


def test_newman_executed_at_least_every_assertion_written_in_the_collection(
    newman_report: dict[str, Any], collection: dict[str, Any]
) -> None:
    requests = [r for folder in requests_by_folder(collection).values() for r in folder]
    # The collection-level test script runs after every request.
    written = sum(written_tests(r) for r in requests) + written_tests(collection) * len(requests)

    executed = newman_report["run"]["stats"]["assertions"]["total"]

    assert written >= 80
    assert executed >= written


def test_every_folder_and_every_request_of_the_collection_ran(
    newman_report: dict[str, Any], collection: dict[str, Any]
) -> None:
    ran = [execution["item"]["name"] for execution in newman_report["run"]["executions"]]

    for folder, requests in requests_by_folder(collection).items():
        missing = [r["name"] for r in requests if r["name"] not in ran]
        assert missing == [], f"{folder}: {missing} did not run"
    assert list(requests_by_folder(collection)) == FOLDERS


def test_every_request_of_the_collection_asserts_its_status_code(collection: dict[str, Any]) -> None:
    for folder, requests in requests_by_folder(collection).items():
        for request in requests:
            lines = script_lines(request, "test")
            assert any("to.have.status(" in line or "pm.response.code" in line for line in lines), (
                f"{folder} / {request['name']} does not check its status"
            )


def test_every_post_of_the_collection_sends_the_api_key_variable_except_the_key_tests(
    collection: dict[str, Any],
) -> None:
    for folder, requests in requests_by_folder(collection).items():
        for request in requests:
            if request["request"]["method"] != "POST" or folder == "API key":
                continue
            headers = {h["key"].lower(): h["value"] for h in request["request"]["header"]}
            assert headers.get("x-api-key") == "{{apiKey}}", f"{folder} / {request['name']}"


def test_the_collection_is_postman_v2_1_and_reaches_the_stack_only_through_the_environment(
    collection: dict[str, Any],
) -> None:
    assert collection["info"]["schema"] == "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    for folder, requests in requests_by_folder(collection).items():
        for request in requests:
            # Every URL goes through {{baseUrl}}, so switching environments switches stacks.
            assert request["request"]["url"]["raw"].startswith("{{baseUrl}}/"), f"{folder} / {request['name']}"
    for path in (LOCAL_ENVIRONMENT, DEPLOYED_ENVIRONMENT):
        assert set(environment_values(path)) == {"baseUrl", "apiKey", "origin"}


def test_the_deployed_environment_holds_no_secret_and_says_how_to_fetch_the_key() -> None:
    document = json.loads(DEPLOYED_ENVIRONMENT.read_text(encoding="utf-8"))
    values = {v["key"]: v for v in document["values"]}

    assert values["apiKey"]["value"] == ""
    assert "aws apigateway get-api-key --api-key" in values["apiKey"]["description"]
    assert "--include-value" in values["apiKey"]["description"]
    assert values["baseUrl"]["value"].startswith("https://<api-id>.execute-api.<region>.amazonaws.com/")
    assert "CorsAllowOrigin" in values["origin"]["description"]
