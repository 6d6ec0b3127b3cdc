"""The compiled transformation equals scikit-learn's transform on all 5,000 real rows, dense or sparse encoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import OneHotEncoder

from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local.training import dataset


@pytest.fixture(scope="module")
def all_customers(churn_frame: pd.DataFrame) -> list[Customer]:
    """Every data row, sent the way a client sends it: all values as strings."""
    return [Customer.model_validate(dataset.as_payload(row)) for _, row in churn_frame.iterrows()]


@pytest.fixture(scope="module", params=[False, True], ids=["dense", "sparse"])
def saved(request: pytest.FixtureRequest, fitted_transformation: dict[str, Any], churn_frame: pd.DataFrame) -> Any:
    """The reference transformation, with its encoder refitted to sparse output for the sparse case."""
    if not request.param:
        return fitted_transformation
    encoder = OneHotEncoder(sparse_output=True, handle_unknown="error").fit(churn_frame[dataset.OBJ_COLS])
    return {**fitted_transformation, "One_Hot": encoder}


def scikit_learn_matrix(saved: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """What scikit-learn's own transforms give for the frame, encoded (densified) then scaled."""
    encoded = saved["One_Hot"].transform(frame[saved["obj_cols"]])
    encoded = encoded.toarray() if hasattr(encoded, "toarray") else encoded
    return np.hstack([encoded, saved["scaler"].transform(frame[saved["num_cols"]].astype("float64"))])


def test_the_real_transformation_is_served_by_the_compiled_path(saved: dict[str, Any]) -> None:
    assert Transformation.from_mapping(saved).compiled is not None


def test_all_5000_compiled_vectors_equal_scikit_learns_transform_bit_for_bit(
    saved: dict[str, Any], all_customers: list[Customer], churn_frame: pd.DataFrame
) -> None:
    ours = Transformation.from_mapping(saved).transform(all_customers)
    np.testing.assert_array_equal(ours, scikit_learn_matrix(saved, churn_frame))
    assert not np.signbit(ours[ours == 0]).any(), "a -0.0 would be written differently"


def test_all_5000_csv_lines_equal_the_repr_of_scikit_learns_values(
    saved: dict[str, Any], all_customers: list[Customer], churn_frame: pd.DataFrame
) -> None:
    expected = "\n".join(",".join(repr(float(v)) for v in row) for row in scikit_learn_matrix(saved, churn_frame))
    assert Transformation.from_mapping(saved).to_csv(all_customers) == expected
