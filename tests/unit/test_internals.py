"""What churn_api.internals assumes of pydantic and Powertools: run first when upgrading either.

Each test names the assumption it checks, so that a library upgrade that breaks one fails here, loudly, before a
request meets it.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict
from pydantic import BaseModel, ConfigDict, ValidationError

from churn_api.internals import MODEL_SLOTS, EventClassResolver, case_insensitive_copy, model_assembler
from churn_api.models import Customer
from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import load_event, reference_payload

# -- pydantic ---------------------------------------------------------------------------------------------------


def test_pydantic_models_have_the_four_slots_the_assembler_sets() -> None:
    assert BaseModel.__slots__ == MODEL_SLOTS
    for slot in MODEL_SLOTS[1:]:
        assert hasattr(BaseModel.__dict__[slot], "__set__"), f"{slot} is no longer a slot descriptor"


def test_an_assembled_model_is_what_model_construct_makes() -> None:
    validated = Customer.model_validate(reference_payload())
    values, fields_set = dict(validated.__dict__), set(validated.model_fields_set)

    assembled = model_assembler(Customer)(dict(values), set(fields_set))
    constructed = Customer.model_construct(_fields_set=set(fields_set), **values)

    for slot in MODEL_SLOTS:
        assert getattr(assembled, slot) == getattr(constructed, slot), slot
    assert assembled == constructed == validated
    assert assembled.model_dump(by_alias=True) == validated.model_dump(by_alias=True)
    assert hash(assembled) == hash(validated)  # frozen models hash their field values


def test_an_assembled_frozen_model_stays_frozen() -> None:
    assembled = model_assembler(Customer)(dict(Customer.model_validate(reference_payload()).__dict__), set())
    with pytest.raises(ValidationError, match="frozen"):
        assembled.state = "CA"  # type: ignore[misc]


def test_pydantic_keeps_the_validated_field_values_in_dict_by_field_name() -> None:
    # preprocessing.Transformation reads a customer's values from its __dict__.
    customer = Customer.model_validate(reference_payload())
    assert customer.__dict__ == {name: getattr(customer, name) for name in Customer.model_fields}


def test_the_assembler_works_for_a_model_with_extras_and_private_attributes_left_empty() -> None:
    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")
        a: int

    assembled = model_assembler(Loose)({"a": 1}, {"a"})
    assert (assembled.a, assembled.model_fields_set, assembled.__pydantic_private__) == (1, {"a"}, None)


# -- Powertools -------------------------------------------------------------------------------------------------


class MarkedEvent(APIGatewayProxyEvent):
    """An event whose class the route can see."""


def test_powertools_makes_each_event_in_to_proxy_event_with_the_json_deserializer() -> None:
    method = inspect.getattr_static(APIGatewayRestResolver, "_to_proxy_event", None)
    assert method is not None, "APIGatewayRestResolver._to_proxy_event is gone: EventClassResolver must change"
    assert list(inspect.signature(method).parameters) == ["self", "event"]
    assert hasattr(APIGatewayRestResolver(), "_json_body_deserializer")


def test_an_event_class_resolver_hands_its_routes_events_of_its_class() -> None:
    class Resolver(EventClassResolver):
        event_class = MarkedEvent

    app = Resolver(json_body_deserializer=lambda text: {"parsed": text})
    seen: dict[str, Any] = {}

    @app.post("/predict")
    def predict() -> dict[str, Any]:
        seen["event"], seen["body"] = app.current_event, app.current_event.json_body
        return {}

    event = load_event("api-predict")
    app.resolve(event, LambdaContext())

    assert type(seen["event"]) is MarkedEvent
    assert seen["body"] == {"parsed": event["body"]}  # the resolver's deserializer reached the event


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Type": "application/json", "X-Api-Key": "k"}, {"HOST": "a", "x-Amzn-Trace-Id": "t"}]
)
def test_a_case_insensitive_copy_is_the_dict_powertools_builds(headers: dict[str, str]) -> None:
    built = CaseInsensitiveDict(headers)  # type: ignore[no-untyped-call]
    copy = case_insensitive_copy(dict(built))

    assert type(copy) is CaseInsensitiveDict
    assert dict(copy) == dict(built) == {name.lower(): value for name, value in headers.items()}
    assert vars(copy) == vars(built) == {}, "CaseInsensitiveDict now keeps state its __init__ sets"
    for name in [*headers, *(n.upper() for n in headers), "missing"]:
        assert copy.get(name) == built.get(name)
