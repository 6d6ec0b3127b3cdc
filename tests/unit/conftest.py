"""Unit fixtures: a transformation fitted in memory on a handful of customers."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from churn_api.preprocessing import Transformation
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.training.dataset import NUM_COLS
from churn_local.training.transformation import fit_transformation


def small_payloads() -> list[dict[str, Any]]:
    """The reference customer and three variants covering other categories and extreme values."""
    base = reference_payload()
    variants = [
        {},
        {"State": "PA", "Area Code": "806", "Int'l Plan": "no", "Day Mins": "8.1622040217391"},
        {"State": "NY", "Area Code": "657", "VMail Plan": "yes", "VMail Message": "300", "CustServ Calls": "0"},
        {"State": "CA", "Area Code": "878", "Night Calls": "550", "Intl Mins": "1.648514"},
    ]
    return [{**base, **v} for v in variants]


@pytest.fixture(scope="module")
def saved() -> dict[str, Any]:
    """A reference-format transformation dict fitted on small_payloads()."""
    frame = pd.DataFrame(small_payloads())
    frame["Area Code"] = frame["Area Code"].astype("int64")
    frame[NUM_COLS] = frame[NUM_COLS].astype("float64")
    return fit_transformation(frame)


@pytest.fixture(scope="module")
def transformation(saved: dict[str, Any]) -> Transformation:
    """The handler's view of `saved`."""
    return Transformation.from_mapping(saved)
