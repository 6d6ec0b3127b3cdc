"""The preprocessing agrees with scikit-learn on every row of the real data set."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local.training import dataset


def test_the_bundled_data_is_the_documented_file_byte_for_byte() -> None:
    raw = dataset.DATA_PATH.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == dataset.DATA_SHA256
    lines = raw.split(b"\r\n")
    assert len(lines) == 5_001
    assert not raw.endswith(b"\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_the_data_loads_with_both_labels_and_integer_area_codes(churn_frame: pd.DataFrame) -> None:
    assert len(churn_frame) == 5_000
    assert churn_frame[dataset.LABEL].value_counts().to_dict() == {0: 2_502, 1: 2_498}
    assert churn_frame["Area Code"].dtype == np.int64
    assert churn_frame.columns.tolist()[:4] == ["State", "Account Length", "Area Code", "Phone"]


@pytest.fixture(scope="module")
def all_customers(churn_frame: pd.DataFrame) -> list[Customer]:
    """Every data row, sent the way a client sends it: all values as strings."""
    return [Customer.model_validate(dataset.as_payload(row)) for _, row in churn_frame.iterrows()]


def test_every_real_row_is_a_valid_customer_with_known_categories(
    all_customers: list[Customer], fitted_transformation: dict[str, Any]
) -> None:
    transformation = Transformation.from_mapping(fitted_transformation)
    assert len(all_customers) == 5_000
    assert [p for i, c in enumerate(all_customers) for p in transformation.category_problems(c, i)] == []


def test_all_5000_feature_vectors_equal_scikit_learns_own_transform(
    all_customers: list[Customer], churn_frame: pd.DataFrame, fitted_transformation: dict[str, Any]
) -> None:
    saved = fitted_transformation
    expected = np.hstack(
        [
            saved["One_Hot"].transform(churn_frame[saved["obj_cols"]]).toarray(),
            saved["scaler"].transform(churn_frame[saved["num_cols"]]),
        ]
    )
    ours = Transformation.from_mapping(saved).transform(all_customers)
    assert ours.shape == (5_000, 51 + 33 + 2 + 2 + 15)
    np.testing.assert_array_equal(ours, expected)


def test_the_csv_sent_for_the_real_rows_parses_back_to_the_same_vectors(
    all_customers: list[Customer], fitted_transformation: dict[str, Any]
) -> None:
    transformation = Transformation.from_mapping(fitted_transformation)
    sample = all_customers[:500]
    parsed = np.array([[float(v) for v in line.split(",")] for line in transformation.to_csv(sample).splitlines()])
    np.testing.assert_array_equal(parsed, transformation.transform(sample))
