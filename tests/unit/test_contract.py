"""The published contract lists the categories the model accepts, spelled the ways the API accepts them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from churn_api.contract import categories_of, customer_schemas, with_categories
from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local.lambda_runtime.event_files import reference_payload


def document() -> dict[str, Any]:
    customer = Customer.model_json_schema(by_alias=True)
    return {
        "components": {
            "schemas": {"Customer": customer, "BatchRequest": {"properties": {"customers": {"items": customer}}}}
        }
    }


def test_the_categories_are_the_encoders_sorted(transformation: Transformation) -> None:
    categories = categories_of(transformation)
    assert categories["State"] == sorted(categories["State"]) and "SC" in categories["State"]
    assert all(isinstance(code, int) for code in categories["Area Code"])


def test_every_customer_schema_gets_an_enum_per_categorical_field(transformation: Transformation) -> None:
    categories = categories_of(transformation)
    published = with_categories(document(), categories)
    for schema in customer_schemas(published):
        for field, values in categories.items():
            assert schema["properties"][field]["anyOf"][0]["enum"] == values
    assert "enum" not in str(document())  # the input is left as it was


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("State", " SC ", True),
        ("State", "sc", False),
        ("State", "XX", False),
        ("Area Code", "836", True),
        ("Area Code", " +0836 ", True),
        ("Area Code", "000836", True),
        ("Area Code", "0000836", False),
        ("Area Code", "8360", False),
    ],
)
def test_the_published_spellings_are_the_ones_the_api_accepts(
    transformation: Transformation, field: str, value: str, accepted: bool
) -> None:
    schema = customer_schemas(with_categories(document(), categories_of(transformation)))[0]
    pattern = schema["properties"][field]["anyOf"][1]["pattern"]
    assert (re.fullmatch(pattern, value) is not None) == accepted
    try:
        customer = Customer.model_validate({**reference_payload(), field: value})
    except ValidationError:
        assert not accepted
    else:
        assert (not transformation.category_problems(customer)) == accepted
