"""Fixtures shared by every test layer."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from churn_local import dataset
from churn_local.transformation import fit_transformation


@pytest.fixture(scope="session")
def churn_frame() -> pd.DataFrame:
    """Return the bundled real data set (5,000 rows)."""
    return dataset.load()


@pytest.fixture(scope="session")
def fitted_transformation(churn_frame: pd.DataFrame) -> dict[str, Any]:
    """Return a transformation dict in the reference format, fitted on the whole data set."""
    return fit_transformation(churn_frame)
