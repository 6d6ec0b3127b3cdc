"""Fixtures shared by every test layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churn_local.containers.sam_build import SamBuildError
from churn_local.containers.sam_build import sam_build as build_with_sam
from churn_local.training import dataset
from churn_local.training.train import train
from churn_local.training.transformation import fit_transformation


@pytest.fixture(scope="session")
def churn_frame() -> pd.DataFrame:
    """Return the bundled real data set (5,000 rows)."""
    return dataset.load()


@pytest.fixture(scope="session")
def fitted_transformation(churn_frame: pd.DataFrame) -> dict[str, Any]:
    """Return a transformation dict in the reference format, fitted on the whole data set."""
    return fit_transformation(churn_frame)


@pytest.fixture(scope="session")
def trained_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train once per session on the bundled data (seed 42) and return the directory holding the artifacts."""
    out_dir = tmp_path_factory.mktemp("artifacts")
    train(dataset.DATA_PATH, out_dir, seed=42)
    return out_dir


@pytest.fixture(scope="session")
def trained_metadata(trained_artifacts: Path) -> dict[str, Any]:
    """Return the parsed metadata.json of the session's trained model."""
    metadata: dict[str, Any] = json.loads((trained_artifacts / "metadata.json").read_text(encoding="utf-8"))
    return metadata


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `sam build` once for the session, as `make build` does, into a temporary folder; return that folder."""
    try:
        return build_with_sam(tmp_path_factory.mktemp("sam-build") / "build")
    except SamBuildError as exc:
        pytest.fail(str(exc))
