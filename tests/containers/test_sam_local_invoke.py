"""`sam local invoke` of every event in events/, in the image built here, against the local stack."""

from __future__ import annotations

import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from churn_local.lambda_runtime.event_files import EVENTS_DIR
from tests.containers.conftest import SamLocalRun, in_process_answers, invoke, without_request_ids

# An event's prefix names its function: api-* and direct-* are ChurnFunction's, bulk-* BulkScoreFunction's (a
# Distributed Map batch, tested with moto S3 in tests/functional/test_bulk_handler.py).
FUNCTION_OF_PREFIX = {"api": "ChurnFunction", "direct": "ChurnFunction", "bulk": "BulkScoreFunction"}
ALL_EVENTS = sorted(path for path in EVENTS_DIR.glob("*.json") if path.name != "env.json")
EVENTS = [path for path in ALL_EVENTS if FUNCTION_OF_PREFIX[path.name.split("-")[0]] == "ChurnFunction"]
# The S3 part of the load budget (docs/api.md "Failure modes"): 2 x (1 s connect + 2 s read) + backoff.
S3_BUDGET_MS = 7000


@pytest.fixture(scope="module")
def invoked(sam_run: SamLocalRun, trained_artifacts: Path) -> dict[str, tuple[Any, Any]]:
    """Invoke every event through SAM CLI (three at a time: each builds SAM's layer image and starts a container)
    and in-process."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        in_containers = list(pool.map(lambda event: invoke(sam_run, event)[0], EVENTS))
    in_process = in_process_answers(sam_run, trained_artifacts, EVENTS)
    return {event.name: pair for event, pair in zip(EVENTS, zip(in_containers, in_process, strict=True), strict=True)}


def test_every_event_is_in_events_and_has_an_answer(invoked: dict[str, tuple[Any, Any]]) -> None:
    # GIVEN the events a user passes to sam local invoke -e
    # THEN each names its function by its prefix, ChurnFunction's are of both kinds (direct and API Gateway), and
    # each got an answer from the container
    assert {path.name.split("-")[0] for path in ALL_EVENTS} <= set(FUNCTION_OF_PREFIX)
    assert {name.split("-")[0] for name in invoked} == {"api", "direct"}
    assert all(container is not None for container, _ in invoked.values())


@pytest.mark.parametrize("event", [path.name for path in EVENTS])
def test_the_container_answers_what_the_in_process_handler_answers(
    invoked: dict[str, tuple[Any, Any]], event: str
) -> None:
    # GIVEN one event, invoked through SAM CLI's emulator in the Lambda image and in-process as make serve runs it
    in_container, in_process = (dict(answer) for answer in invoked[event])
    # THEN status and body are the same, scores to the last digit (an API answer's body is compared parsed)
    if "statusCode" in in_process and "body" in in_process:
        assert json.loads(in_container.pop("body")) == json.loads(in_process.pop("body"))
        assert in_container == in_process
    else:
        assert without_request_ids(in_container) == without_request_ids(in_process)


def test_the_reference_customer_is_scored_with_the_templates_threshold(invoked: dict[str, tuple[Any, Any]]) -> None:
    # GIVEN the reference customer invoked directly (THRESHOLD comes from the template's Number parameter)
    answer, _ = invoked["direct-reference.json"]
    # THEN it is scored, with the template's default threshold: SAM CLI resolved the parameter's Ref
    assert answer["threshold"] == 0.39
    assert 0.0 <= answer["score"] <= 1.0 and answer["churn"] is (answer["score"] > 0.39)


def test_local_s3_stopped_answers_transformation_unavailable_within_the_budget(
    sam_run: SamLocalRun, tmp_path: Path
) -> None:
    # GIVEN the function's S3 on a port where nothing listens (a bound socket that never listens: refused at once)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind((sam_run.urls["s3"].split("//")[1].split(":")[0], 0))
        stopped = f"http://{closed.getsockname()[0]}:{closed.getsockname()[1]}"
        variables = json.loads(Path(sam_run.urls["env_vars"]).read_text(encoding="utf-8"))
        for function in variables.values():
            function["AWS_ENDPOINT_URL_S3"] = stopped
        env_vars = tmp_path / "env-vars-s3-stopped.json"
        env_vars.write_text(json.dumps(variables), encoding="utf-8")
        # WHEN the reference customer is invoked in a container
        started = time.monotonic()
        answer, log = invoke(sam_run, EVENTS_DIR / "direct-reference.json", env_vars)
        elapsed = time.monotonic() - started
    # THEN the documented 500 TRANSFORMATION_UNAVAILABLE, naming nothing internal, within the S3 budget
    assert answer["statusCode"] == 500
    assert answer["error"]["code"] == "TRANSFORMATION_UNAVAILABLE"
    assert stopped.split("//")[1] not in json.dumps(answer) and "churn-api-local" not in json.dumps(answer)
    duration = re.search(r"REPORT RequestId: \S+\s+Init Duration: [\d.]+ ms\s+Duration: ([\d.]+) ms", log)
    assert duration is not None, log[-2000:]
    assert float(duration[1]) < S3_BUDGET_MS, f"the function took {duration[1]} ms ({elapsed:.1f} s in all)"
