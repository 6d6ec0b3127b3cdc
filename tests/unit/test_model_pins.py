"""What travels with a trained model: its threshold, its version and its drift baseline, from training to the pins."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from churn_api.drift import Baseline
from churn_api.integrity import sha256_hex
from churn_api.provenance import model_version
from churn_local.constants import PROJECT_ROOT
from churn_local.release import pins
from churn_local.template.expansion import default_threshold, load_template
from churn_local.training import dataset
from churn_local.training.train import DEFAULT_THRESHOLD


def test_the_templates_model_threshold_default_is_trainings_default() -> None:
    # The copy a stack deployed without make publish's pins applies; training's constant is the rule.
    assert default_threshold() == DEFAULT_THRESHOLD
    assert load_template()["Parameters"]["Threshold"]["Default"] == ""


def test_training_records_the_threshold_the_version_and_the_baseline(
    trained_artifacts: Path, trained_metadata: dict[str, Any]
) -> None:
    assert trained_metadata["threshold"] == DEFAULT_THRESHOLD
    digests = {
        name: sha256_hex((trained_artifacts / name).read_bytes()) for name in ("transformation.sav", "model.tar.gz")
    }
    assert trained_metadata["model_version"] == model_version(digests["transformation.sav"], digests["model.tar.gz"])
    baseline_bytes = (trained_artifacts / "baseline.json").read_bytes()
    assert trained_metadata["artifacts"]["baseline.json"]["sha256"] == sha256_hex(baseline_bytes)
    baseline = Baseline.from_bytes(baseline_bytes)
    assert set(baseline.features) == set(dataset.NUM_COLS) | set(dataset.OBJ_COLS)
    # The training split's rows, in every feature's bins and the score's
    rows = trained_metadata["split"]["train_rows"]
    assert {sum(bins.counts) for bins in [*baseline.features.values(), baseline.score]} == {rows}


def test_publishing_pins_the_version_the_threshold_and_the_baseline(trained_artifacts: Path) -> None:
    artifacts = pins.read_artifacts(trained_artifacts)
    parameters = pins.parameters_for(artifacts, "bucket", "churn-api")
    metadata = json.loads((trained_artifacts / "metadata.json").read_text(encoding="utf-8"))
    assert parameters["ModelVersion"] == metadata["model_version"] == artifacts.version
    assert float(parameters["ModelThreshold"]) == metadata["threshold"]
    assert parameters["DriftBaselineKey"] == f"churn-api/{artifacts.digest}/baseline.json"
    assert parameters["DriftBaselineSha256"] == metadata["artifacts"]["baseline.json"]["sha256"]
    assert set(parameters) <= set(load_template()["Parameters"])


def test_make_train_passes_threshold_on_to_training() -> None:
    dry = ["make", "-n", "--no-print-directory", "-o", ".venv/.installed-stamp", "train"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k != "THRESHOLD"}
    run = {"cwd": PROJECT_ROOT, "env": env, "capture_output": True, "text": True, "check": True}
    with_it = subprocess.run([*dry, "THRESHOLD=0.5"], **run)  # type: ignore[call-overload]
    without = subprocess.run(dry, **run)  # type: ignore[call-overload]
    assert "--threshold 0.5" in with_it.stdout
    assert "--threshold" not in without.stdout
