"""API Gateway events are told from customers by their shape, and bodies are read as one JSON object or refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities import jmespath_utils
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from hypothesis import given
from hypothesis import strategies as st

from churn_api.gateway import (
    NOT_JSON,
    ProxyEvent,
    is_api_gateway_event,
    read_json,
    request_id_of,
    with_canonical_media_type,
)
from churn_local.lambda_runtime.event_files import load_event, reference_payload


def test_a_rest_proxy_event_is_recognised() -> None:
    assert is_api_gateway_event(load_event("api-predict"))


@pytest.mark.parametrize(
    "extra",
    [
        {"httpMethod": "POST", "requestContext": {}},
        {"httpMethod": "POST", "path": "/predict", "requestContext": "ctx"},
        {"httpMethod": "POST", "path": "/predict", "requestContext": {"requestId": "1", "stage": "Prod"}},
        {"httpMethod": 1, "path": "/predict", "requestContext": load_event("api-predict")["requestContext"]},
    ],
)
def test_a_customer_carrying_some_event_keys_is_not_an_event(extra: dict[str, Any]) -> None:
    assert not is_api_gateway_event({**reference_payload(), **extra})


@pytest.mark.parametrize(
    ("declared", "seen"),
    [
        ("Application/JSON", "application/json"),
        ("APPLICATION/JSON; charset=UTF-8", "application/json; charset=UTF-8"),
        ("multipart/form-data; boundary=x", NOT_JSON),
        ("application/x-www-form-urlencoded", NOT_JSON),
        ("text/plain", NOT_JSON),
        ("", ""),
    ],
)
def test_the_declared_media_type_is_canonical_before_routing(declared: str, seen: str) -> None:
    event = {**load_event("api-predict"), "headers": {"content-TYPE": declared}, "multiValueHeaders": {}}
    event["multiValueHeaders"]["Content-Type"] = [declared]
    canonical = with_canonical_media_type(event)
    assert canonical["headers"] == {"content-TYPE": seen}
    assert canonical["multiValueHeaders"] == {"Content-Type": [seen]}
    assert event["headers"] == {"content-TYPE": declared}  # the caller's event is left as it was


@given(st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10) | st.none(), max_size=5))
def test_any_json_object_reads_as_itself(document: dict[str, Any]) -> None:
    assert read_json(json.dumps(document)) == document


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[{}]", "must be a JSON object"),
        ("42", "must be a JSON object"),
        ("{", "is not valid JSON"),
        ('{"a": ' + "1" * 5_000 + "}", "integer too long"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_one_readable_object_is_refused_naming_why(text: str, problem: str) -> None:
    with pytest.raises(json.JSONDecodeError, match=problem):
        read_json(text)


@pytest.mark.parametrize(
    "event",
    [
        load_event("api-predict"),
        reference_payload(),
        {"requestContext": {}},
        {"requestContext": "not a mapping"},
        {"requestContext": {"requestId": 7}},
        ["a", "list"],
        "text",
        None,
    ],
    ids=repr,
)
def test_request_id_is_what_powertools_correlation_path_finds(event: Any) -> None:
    expected = jmespath_utils.query(envelope=correlation_paths.API_GATEWAY_REST, data=event)
    assert request_id_of(event) == expected


def test_the_proxy_event_reads_headers_as_powertools_does_and_each_read_is_its_own_copy() -> None:
    event = load_event("api-predict")
    ours, theirs = ProxyEvent(event), APIGatewayProxyEvent(event)
    for name in ("content-type", "CONTENT-TYPE", "Host", "x-missing"):
        assert ours.headers.get(name) == theirs.headers.get(name)
        assert ours.multi_value_headers.get(name) == theirs.multi_value_headers.get(name)
    assert ours.headers == theirs.headers
    assert ours.resolved_headers_field == theirs.resolved_headers_field
    assert ours.resolved_cookies_field == theirs.resolved_cookies_field
    changed = ours.headers
    changed["content-type"] = "text/plain"
    assert ours.headers["content-type"] == theirs.headers["content-type"]
