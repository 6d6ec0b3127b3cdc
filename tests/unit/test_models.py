"""The Customer model accepts the reference payload's shapes and rejects what the scaler cannot take."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from churn_api.models import Customer, Prediction
from churn_api.provenance import ModelInfo
from churn_local.lambda_runtime.event_files import reference_payload

NUMERIC = ["Account Length", "VMail Message", "Day Mins", "Day Calls", "Night Charge", "CustServ Calls"]


def test_the_reference_payload_is_a_valid_customer_with_numbers_converted() -> None:
    features = Customer.model_validate(reference_payload()).features()
    assert features["Day Mins"] == 10.018992664834252
    assert features["Account Length"] == 15
    assert features["Area Code"] == 836
    assert features["State"] == "SC"


def test_json_numbers_and_numeric_strings_give_the_same_features() -> None:
    as_strings = reference_payload()
    as_numbers = {k: (float(v) if k in NUMERIC else v) for k, v in as_strings.items()}
    as_numbers["Account Length"] = 15
    assert Customer.model_validate(as_numbers).features() == Customer.model_validate(as_strings).features()


def test_phone_is_accepted_but_never_a_feature_nor_shown() -> None:
    customer = Customer.model_validate(reference_payload())
    assert "Phone" not in customer.features()
    assert "158-8416" not in repr(customer)
    assert "158-8416" not in str(customer)
    assert "Phone" not in Customer.feature_names()


def test_phone_may_be_left_out() -> None:
    payload = reference_payload()
    del payload["Phone"]
    assert Customer.model_validate(payload).features() == Customer.model_validate(reference_payload()).features()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Day Mins", "ten"),
        ("Day Mins", "nan"),
        ("Day Mins", "inf"),
        ("Day Mins", -1.0),
        ("Day Calls", "4.5"),
        ("Day Calls", "4.0"),
        ("Day Calls", "1_000"),
        ("Day Calls", 1_000_000),
        ("Day Mins", "-0"),
        ("Day Mins", "1e3"),
        ("Day Mins", 1e40),
        ("Day Mins", "1000000"),
        ("Day Calls", True),
        ("Night Charge", False),
        ("Area Code", "eight"),
        ("State", ""),
        ("State", 7),
        ("Int'l Plan", None),
    ],
)
def test_a_bad_value_is_reported_against_its_reference_field_name(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Customer.model_validate({**reference_payload(), field: value})
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_every_missing_field_is_reported() -> None:
    payload = reference_payload()
    del payload["Day Mins"], payload["State"]
    with pytest.raises(ValidationError) as caught:
        Customer.model_validate(payload)
    assert sorted(e["loc"][0] for e in caught.value.errors() if e["type"] == "missing") == ["Day Mins", "State"]


@pytest.mark.parametrize(("score", "churn"), [(0.39, False), (0.3900001, True), (0.0, False), (1.0, True)])
def test_the_label_is_true_only_above_the_threshold(score: float, churn: bool) -> None:
    model = ModelInfo(version="3f2a9c1e5b7d4a60", threshold=0.39)
    prediction = Prediction.from_score(score, model)
    assert prediction.churn is churn
    assert prediction.label == ("True" if churn else "False")
    assert (prediction.score, prediction.threshold, prediction.model) == (score, 0.39, model)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("Day Calls", " 4 ", 4),
        ("Day Calls", "+4", 4),
        ("Day Calls", 999_999, 999_999),
        ("Day Calls", 4.0, 4),
        ("Day Mins", "999999.99", 999_999.99),
        ("Day Mins", ".5", 0.5),
        ("Day Mins", "5.", 5.0),
        ("Day Mins", -0.0, 0.0),
        ("State", "  SC ", "SC"),
    ],
)
def test_numbers_within_the_published_patterns_and_limits_are_accepted(
    field: str, value: object, expected: object
) -> None:
    assert Customer.model_validate({**reference_payload(), field: value}).features()[field] == expected


def test_the_published_string_patterns_are_the_ones_enforced() -> None:
    schema = Customer.model_json_schema(by_alias=True)["properties"]
    count_pattern = schema["Day Calls"]["anyOf"][1]["pattern"]
    amount_pattern = schema["Day Mins"]["anyOf"][1]["pattern"]
    for value in ["4", "4.0", "1_000", "-0", "1e3", "999999", "1000000"]:
        accepted = _accepts("Day Calls", value)
        assert accepted == bool(re.fullmatch(count_pattern, value)), value
    for value in ["4.5", ".5", "5.", "-0", "1e3", "999999.9", "1000000", "nan"]:
        accepted = _accepts("Day Mins", value)
        assert accepted == bool(re.fullmatch(amount_pattern, value)), value


def _accepts(field: str, value: str) -> bool:
    try:
        Customer.model_validate({**reference_payload(), field: value})
    except ValidationError:
        return False
    return True
