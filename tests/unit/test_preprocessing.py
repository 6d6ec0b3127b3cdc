"""The transformation orders features by obj_cols/num_cols, judges categories, and renders exact CSV."""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.training.dataset import NUM_COLS, OBJ_COLS
from tests.unit.conftest import small_payloads


def _sklearn_vector(saved: dict[str, Any], payload: dict[str, Any]) -> np.ndarray:
    """What scikit-learn's own transforms give for one payload, columns picked by name."""
    row = pd.DataFrame([payload])
    row["Area Code"] = row["Area Code"].astype("int64")
    encoded = saved["One_Hot"].transform(row[saved["obj_cols"]]).toarray()
    scaled = saved["scaler"].transform(row[saved["num_cols"]].astype("float64"))
    return np.hstack([encoded, scaled])[0]


def test_features_equal_scikit_learns_own_transform(saved: dict[str, Any], transformation: Transformation) -> None:
    customers = [Customer.model_validate(p) for p in small_payloads()]
    ours = transformation.transform(customers)
    expected = np.vstack([_sklearn_vector(saved, p) for p in small_payloads()])
    np.testing.assert_array_equal(ours, expected)
    assert ours.shape[1] == transformation.n_features == len(transformation.feature_names)


@settings(max_examples=50, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_json_key_order_does_not_change_the_csv(transformation: Transformation, rnd: random.Random) -> None:
    payload = reference_payload()
    keys = list(payload)
    rnd.shuffle(keys)
    shuffled = {k: payload[k] for k in keys}
    assert transformation.to_csv([Customer.model_validate(shuffled)]) == transformation.to_csv(
        [Customer.model_validate(payload)]
    )


def test_feature_order_follows_the_transformations_column_lists(saved: dict[str, Any]) -> None:
    reordered = {**saved, "num_cols": list(reversed(saved["num_cols"])), "scaler": copy.deepcopy(saved["scaler"])}
    # A scaler fitted on the reversed columns: same statistics, reversed.
    for attr in ("mean_", "scale_", "var_"):
        setattr(reordered["scaler"], attr, getattr(saved["scaler"], attr)[::-1].copy())
    reordered["scaler"].feature_names_in_ = np.array(reordered["num_cols"], dtype=object)
    customer = [Customer.model_validate(reference_payload())]
    straight = Transformation.from_mapping(saved).transform(customer)[0]
    reversed_ = Transformation.from_mapping(reordered).transform(customer)[0]
    n_encoded = len(straight) - len(NUM_COLS)
    np.testing.assert_array_equal(reversed_[:n_encoded], straight[:n_encoded])
    np.testing.assert_array_equal(reversed_[n_encoded:], straight[n_encoded:][::-1])


def test_the_csv_holds_encoded_then_scaled_values_exactly(transformation: Transformation) -> None:
    customers = [Customer.model_validate(p) for p in small_payloads()]
    lines = transformation.to_csv(customers).split("\n")
    parsed = np.array([[float(v) for v in line.split(",")] for line in lines])
    np.testing.assert_array_equal(parsed, transformation.transform(customers))
    assert len(lines) == len(customers)


def test_an_unknown_category_is_named_with_its_field_and_value(transformation: Transformation) -> None:
    customer = Customer.model_validate({**reference_payload(), "State": "XX", "Area Code": "999"})
    problems = transformation.category_problems(customer, index=3)
    assert [(p.field, p.index) for p in problems] == [("State", 3), ("Area Code", 3)]
    assert "'XX'" in problems[0].problem
    assert "999" in problems[1].problem


def test_known_categories_have_no_problems_and_area_codes_match_as_integers(transformation: Transformation) -> None:
    customer = Customer.model_validate({**reference_payload(), "Area Code": 836})
    assert transformation.category_problems(customer) == []
    assert 836 in transformation.categories["Area Code"]


def test_category_matching_is_case_sensitive_like_the_encoder(transformation: Transformation) -> None:
    customer = Customer.model_validate({**reference_payload(), "State": "sc"})
    assert [p.field for p in transformation.category_problems(customer)] == ["State"]


# Per categorical field: a category the encoder knows, and values it does not (another case, spaces, a new one).
SPELLINGS = {"State": ["SC", "sc", "XX"], "Area Code": ["836", "999"], "Int'l Plan": ["no", "maybe"]}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SPELLINGS.items()}), max_size=12))
def test_a_batchs_unknown_categories_are_each_customers_category_problems(
    transformation: Transformation, values: list[dict[str, str]]
) -> None:
    # GIVEN customers mixing known and unknown categories, at arbitrary indexes
    customers = [Customer.model_validate({**reference_payload(), **v}) for v in values]
    indexes = [3 * i + 1 for i in range(len(customers))]
    # WHEN the batch's unknown categories are found in one pass
    unknown = transformation.unknown_categories(customers, indexes)
    # THEN they are exactly what each customer's own check finds, by index
    one_by_one = {i: transformation.category_problems(c, i) for i, c in zip(indexes, customers, strict=True)}
    assert unknown == {i: problems for i, problems in one_by_one.items() if problems}


@pytest.mark.parametrize("key", ["obj_cols", "num_cols", "One_Hot", "scaler"])
def test_a_transformation_missing_a_key_is_refused_naming_it(saved: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        Transformation.from_mapping({k: v for k, v in saved.items() if k != key})


def test_a_transformation_using_a_column_the_api_does_not_accept_is_refused(saved: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Churn"):
        Transformation.from_mapping({**saved, "num_cols": [*saved["num_cols"][:-1], "Churn?"]})


def test_an_encoder_fitted_on_other_columns_is_refused(saved: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="One_Hot was fitted on columns"):
        Transformation.from_mapping({**saved, "obj_cols": list(reversed(OBJ_COLS))})


def test_loading_leaves_the_callers_estimators_untouched(saved: dict[str, Any]) -> None:
    Transformation.from_mapping(saved)
    assert list(saved["One_Hot"].feature_names_in_) == OBJ_COLS
    assert list(saved["scaler"].feature_names_in_) == NUM_COLS
