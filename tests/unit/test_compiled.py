"""The compiled transformation reproduces scikit-learn's transform exactly, or refuses, or falls back."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from churn_api.budget import Deadline
from churn_api.compiled import (
    MismatchError,
    NotCompilable,
    compile_transformation,
    probe_rows,
    reference_csv,
    reference_transform,
)
from churn_api.errors import TransformationUnavailable
from churn_api.preprocessing import Transformation, TransformationStore
from churn_local.training.transformation import dumps

STATES = ["AK", "AL", "CA", "NY", "SC", "TX"]
PLANS = ["no", "yes"]
AREAS = [408, 415, 510]

categorical_rows = st.lists(
    st.tuples(st.sampled_from(STATES), st.sampled_from(PLANS), st.sampled_from(AREAS)), min_size=3, max_size=40
)
amounts = st.floats(min_value=0, max_value=999_999, allow_nan=False, allow_infinity=False)
encoder_settings = st.fixed_dictionaries(
    {
        "drop": st.sampled_from([None, "first", "if_binary", ["CA", "no", 415]]),
        "sparse_output": st.booleans(),
        "handle_unknown": st.sampled_from(["error", "ignore", "infrequent_if_exist", "warn"]),
        "dtype": st.sampled_from([np.float64, np.float32]),
    }
)
scaler_settings = st.fixed_dictionaries({"with_mean": st.booleans(), "with_std": st.booleans()})


def fitted(
    rows: list[tuple[Any, ...]], numbers: list[list[float]], encoder_kw: dict[str, Any], scaler_kw: dict[str, Any]
) -> tuple[Any, Any]:
    """Fit an encoder on rows that hold every category and a scaler on the numbers."""
    every = [(s, PLANS[i % 2], AREAS[i % 3]) for i, s in enumerate(STATES)]
    if encoder_kw["drop"] is not None and encoder_kw["handle_unknown"] == "infrequent_if_exist":
        encoder_kw = {**encoder_kw, "handle_unknown": "ignore"}
    encoder = OneHotEncoder(**encoder_kw).fit(np.array(every + rows, dtype=object))
    scaler = StandardScaler(**scaler_kw).fit(np.array(numbers, dtype=np.float64))
    return encoder, scaler


def small(handle_unknown: str, *, sparse: bool) -> tuple[Any, Any]:
    """Fit a plain encoder (every category, no drop) and a standard scaler on three numbers."""
    encoder_kw = {"drop": None, "sparse_output": sparse, "handle_unknown": handle_unknown, "dtype": np.float64}
    return fitted([], [[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]], encoder_kw, {"with_mean": True, "with_std": True})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=categorical_rows,
    numbers=st.lists(st.lists(amounts, min_size=3, max_size=3), min_size=2, max_size=30),
    encoder_kw=encoder_settings,
    scaler_kw=scaler_settings,
)
def test_compiled_output_and_csv_equal_scikit_learns_for_every_encoder_and_scaler_variant(
    rows: list[tuple[Any, ...]], numbers: list[list[float]], encoder_kw: dict[str, Any], scaler_kw: dict[str, Any]
) -> None:
    encoder, scaler = fitted(rows, numbers, encoder_kw, scaler_kw)
    compiled = compile_transformation(encoder, scaler)
    queried = [numbers[i % len(numbers)] for i in range(len(rows))]
    expected = reference_transform(encoder, scaler, rows, queried)
    np.testing.assert_array_equal(compiled.transform(rows, queried), expected)
    assert compiled.to_csv(rows, queried) == reference_csv(expected)


@pytest.mark.parametrize("handle_unknown", ["ignore", "infrequent_if_exist", "warn"])
def test_an_unknown_category_is_all_zeros_where_scikit_learn_says_so(handle_unknown: str) -> None:
    encoder, scaler = small(handle_unknown, sparse=False)
    rows, numbers = [("ZZ", "yes", 999)], [[1.0, 2.0, 3.0]]
    with pytest.warns(UserWarning) if handle_unknown == "warn" else contextlib.nullcontext():
        expected = reference_transform(encoder, scaler, rows, numbers)
    compiled = compile_transformation(encoder, scaler)
    np.testing.assert_array_equal(compiled.transform(rows, numbers), expected)
    assert compiled.to_csv(rows, numbers) == reference_csv(expected)


def test_an_unknown_category_raises_when_the_encoder_refuses_unknowns() -> None:
    encoder, scaler = small("error", sparse=True)
    compiled = compile_transformation(encoder, scaler)
    with pytest.raises(ValueError, match="unknown category"):
        compiled.transform([("ZZ", "no", 415)], [[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="unknown category"):
        compiled.to_csv([("ZZ", "no", 415)], [[1.0, 2.0, 3.0]])


def test_the_probe_rows_hold_every_category_of_every_column() -> None:
    encoder, scaler = small("error", sparse=False)
    categorical, numeric = probe_rows(encoder, scaler)
    assert [sorted({row[i] for row in categorical}, key=str) for i in range(3)] == [
        sorted(STATES),
        PLANS,
        AREAS,
    ]
    assert len(numeric) == len(categorical)


def test_a_compiled_form_that_disagrees_with_scikit_learn_is_refused(saved: dict[str, Any]) -> None:
    """GIVEN a scaler whose statistics change after compiling WHEN compiled again THEN the mismatch is caught."""

    class DriftingScaler(StandardScaler):
        def transform(self, X: Any, copy: bool | None = None) -> Any:  # noqa: N803 - scikit-learn's signature
            return super().transform(X, copy) + 1e-12

    DriftingScaler.__module__ = StandardScaler.__module__
    DriftingScaler.__name__ = "StandardScaler"
    drifting = DriftingScaler()
    drifting.__dict__.update(saved["scaler"].__dict__)
    del drifting.feature_names_in_
    with pytest.raises(MismatchError):
        compile_transformation(OneHotEncoder(sparse_output=False).fit([["a"], ["b"]]), _refit_like(drifting))


def _refit_like(scaler: Any) -> Any:
    scaler.n_features_in_ = len(scaler.mean_)
    return scaler


def test_a_mismatching_transformation_is_not_served_by_the_store(saved: dict[str, Any]) -> None:
    """A load that fails the verification is reported as TRANSFORMATION_UNAVAILABLE, never served."""

    class S3:
        def get_object(self, **_: Any) -> dict[str, Any]:
            broken = dict(saved)
            scaler = StandardScaler().fit([[0.0] * len(saved["num_cols"]), [1.0] * len(saved["num_cols"])])
            scaler.mean_ = np.full(len(saved["num_cols"]), np.nan)  # NaN is never equal to itself
            broken["scaler"] = scaler
            return {"Body": _Body(dumps(broken))}

    with pytest.raises(TransformationUnavailable) as refused:
        TransformationStore(S3(), "bucket", "key").get(Deadline.after(10))
    assert isinstance(refused.value.__cause__, MismatchError)


def test_an_estimator_it_does_not_model_falls_back_to_scikit_learn_and_says_so_once(
    saved: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    numbers = np.array([[float(i + j) for j in range(len(saved["num_cols"]))] for i in range(5)])
    other = {**saved, "scaler": MinMaxScaler().fit(numbers)}
    with caplog.at_level(logging.WARNING, logger="churn_api.preprocessing"):
        transformation = Transformation.from_mapping(other)
    assert transformation.compiled is None
    assert [r.getMessage() for r in caplog.records if "scikit-learn" in r.getMessage()] != []
    assert len(caplog.records) == 1


def test_infrequent_categories_are_not_compiled() -> None:
    encoder = OneHotEncoder(min_frequency=2, handle_unknown="infrequent_if_exist").fit([["a"], ["a"], ["b"]])
    with pytest.raises(NotCompilable):
        compile_transformation(encoder, StandardScaler().fit([[1.0], [2.0]]))


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


def test_a_batch_remembering_whole_number_texts_writes_what_scikit_learn_gives_row_by_row() -> None:
    """GIVEN repeated counts, a -0.0 and a scaler without centring WHEN written in batches THEN the text is exact."""
    encoder, _ = small("error", sparse=False)
    scaler = StandardScaler(with_mean=False).fit([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]])
    compiled = compile_transformation(encoder, scaler)
    rows = [(STATES[i % 6], PLANS[i % 2], AREAS[i % 3]) for i in range(64)]
    numbers = [[float(i % 5), 0.0 if i % 7 else -0.0, 0.1 * i] for i in range(64)]
    for _ in range(2):  # the second pass answers from the remembered texts
        expected = reference_transform(encoder, scaler, rows, numbers)
        assert compiled.to_csv(rows, numbers) == reference_csv(expected)
        assert compiled.to_csv(rows[:3], numbers[:3]) == reference_csv(expected[:3])
    assert "-0.0" in compiled.to_csv(rows, numbers)
