"""Which model answers a deployed stack: every answer names the pinned version and the threshold that came with it.

A stack deployed with `make publish`'s pins answers with their `ModelVersion` and `ModelThreshold` (a `Threshold`
parameter, when given, overrides the cut-off for that stack only). A model trained with another threshold and
published answers with that threshold, with no change to template.yaml or samconfig.toml.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.training import dataset
from churn_local.training.train import train
from tests.e2e.conftest import OwnStacks
from tests.e2e.targets import Target

TRAVELLING_THRESHOLD = 0.5


def test_every_answer_names_the_model_in_its_body_and_its_x_model_version_header(target: Target) -> None:
    # WHEN one customer and a batch of two are scored
    answers = [
        target.call("/predict", "POST", reference_payload()),
        target.call("/predict/batch", "POST", {"customers": [reference_payload(), reference_payload()]}),
    ]
    for status, headers, body in answers:
        # THEN each names its model in the body and the same version in X-Model-Version
        assert status == 200, body
        model: dict[str, Any] = json.loads(body)["model"]
        assert headers.get("X-Model-Version") == model["version"]
        assert json.loads(body)["threshold"] == model["threshold"]
        if target.stack is not None:
            # AND that model is the one make publish pinned, with the threshold the stack was deployed with
            assert model["version"] == target.parameter("ModelVersion")
            assert model["threshold"] == float(target.cut_off())


@pytest.fixture
def retrained(own_stacks: OwnStacks | None, tmp_path: Path, trained_artifacts: Path) -> Iterator[Path]:
    """Train the session's model again with another threshold and publish it; publish the session's back after."""
    if own_stacks is None:
        pytest.skip("training and publishing a model is done only into the emulator this suite started")
    artifacts = tmp_path / "artifacts"
    train(dataset.DATA_PATH, artifacts, seed=42, threshold=TRAVELLING_THRESHOLD)
    own_stacks.emulated.publish(artifacts)
    yield artifacts
    own_stacks.emulated.publish(trained_artifacts)


def test_a_model_trained_with_another_threshold_answers_with_it_once_published_and_deployed(
    own_stacks: OwnStacks, retrained: Path, trained_metadata: dict[str, Any]
) -> None:
    # GIVEN `make train THRESHOLD=0.5`, then `make publish`: nothing in template.yaml or samconfig.toml changed
    # WHEN a stack is deployed with the published pins (no Threshold parameter)
    stack = own_stacks.deploy("e2e-threshold", {}, artifacts=retrained)
    try:
        status, headers, body = stack.call("/predict", "POST", reference_payload())
        # THEN it answers with the model's own threshold, and decides with it
        assert status == 200, body
        answer = json.loads(body)
        assert answer["threshold"] == answer["model"]["threshold"] == TRAVELLING_THRESHOLD
        assert answer["churn"] is (answer["score"] > TRAVELLING_THRESHOLD)
        assert stack.parameter("Threshold") == ""
        # AND the version is the same model's: the threshold is not part of what the version names
        assert answer["model"]["version"] == headers.get("X-Model-Version") == trained_metadata["model_version"]
    finally:
        own_stacks.delete("e2e-threshold")
