"""Over HTTP, through `make serve`'s stack: every answer names the model that gave it; the cut-off is the model's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.release import pins
from churn_local.training.train import train
from tests.integration.conftest import Stack, assert_clean_stop, predict, send, serve_command, start_stack

HEADER = "X-Model-Version"


def named(reply_headers: dict[str, str]) -> str:
    """Return the X-Model-Version header, looked up in any case."""
    return next(value for name, value in reply_headers.items() if name.lower() == HEADER.lower())


def test_single_batch_and_model_errors_name_the_pinned_version_in_the_body_and_the_header(
    stack: Stack, trained_artifacts: Path, trained_metadata: dict[str, Any]
) -> None:
    # GIVEN the version make publish would pin for these artifacts, the same that training recorded
    version = pins.read_artifacts(trained_artifacts).version
    assert version == trained_metadata["model_version"]
    model = {"version": version, "threshold": trained_metadata["threshold"]}
    # WHEN one customer, a batch and a customer the model cannot score (an unknown State) are posted
    one = predict(stack, reference_payload())
    batch = send("POST", f"{stack.api_url}/predict/batch", {"customers": [reference_payload()] * 3})
    unknown = predict(stack, {**reference_payload(), "State": "XX"})
    # THEN each body names the model (and the variant the local endpoint names, as SageMaker does, where it scored)
    # and the header the same version
    scored = {**model, "variant": "AllTraffic"}
    assert (one.status, one.json()["model"], named(dict(one.headers))) == (200, scored, version)
    assert (batch.status, batch.json()["model"], named(dict(batch.headers))) == (200, scored, version)
    assert (unknown.status, unknown.json()["model"], named(dict(unknown.headers))) == (400, model, version)
    # AND the existing fields are as they were
    assert one.json()["threshold"] == model["threshold"] and set(one.json()) == {
        "churn",
        "label",
        "score",
        "threshold",
        "model",
    }


def test_a_body_that_never_reached_the_model_names_no_model_in_the_body(stack: Stack) -> None:
    reply = send("POST", f"{stack.api_url}/predict", "{not json", Content_Type="application/json")
    assert reply.status == 400
    assert "model" not in reply.json()


def test_readiness_names_the_model_served(stack: Stack, trained_metadata: dict[str, Any]) -> None:
    reply = send("GET", f"{stack.api_url}/health/ready")
    # The local stack does not host the model in SageMaker (no ModelDataUrl): nothing to follow, served is null.
    assert reply.json()["model"] == {
        "version": trained_metadata["model_version"],
        "threshold": trained_metadata["threshold"],
        "served": None,
    }


@pytest.fixture(scope="module")
def half_threshold_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, Any]]]:
    """`make train THRESHOLD=0.5` into a folder, then `make serve` with it: no template or samconfig change."""
    artifacts = tmp_path_factory.mktemp("threshold-0.5")
    metadata = train(out_dir=artifacts, threshold=0.5)
    running = start_stack(serve_command(artifacts))
    yield running, metadata
    assert_clean_stop(running)


def test_a_model_trained_with_half_answers_with_half(
    half_threshold_stack: tuple[Stack, dict[str, Any]],
    held_out_payloads: list[dict[str, str]],
    trained_metadata: dict[str, Any],
) -> None:
    stack, metadata = half_threshold_stack
    assert metadata["threshold"] == 0.5
    reply = send("POST", f"{stack.api_url}/predict/batch", {"customers": held_out_payloads[:300]})
    body = reply.json()
    assert (body["threshold"], body["model"]["threshold"]) == (0.5, 0.5)
    # The cut-off decides: churn exactly when score > 0.5, and both sides of it occur
    assert all(item["churn"] is (item["score"] > 0.5) for item in body["results"])
    assert {item["churn"] for item in body["results"]} == {True, False}
    # AND the version names the model and the transformation, the same as the session's (the cut-off is not in it)
    assert body["model"]["version"] == named(dict(reply.headers)) == metadata["model_version"]
    assert metadata["model_version"] == trained_metadata["model_version"]
