"""The whole local stack over real HTTP: scores, bad input, routes, concurrency and the ids of every answer."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from churn_local.lambda_runtime.event_files import load_event, reference_payload
from churn_local.template.expansion import default_threshold
from churn_local.training.reference_model import ReferenceModel
from tests.integration.conftest import (
    Stack,
    predict,
    send,
)

THRESHOLD = float(str(default_threshold()))
HELD_OUT_SAMPLE = 400


def assert_prediction(reply: Any, expected_score: float) -> None:
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["score"] == pytest.approx(expected_score, abs=1e-6)
    assert body["threshold"] == THRESHOLD
    assert body["churn"] is (body["score"] > THRESHOLD)
    assert body["label"] == str(body["score"] > THRESHOLD)


def assert_still_serving(stack: Stack, reference_model: ReferenceModel) -> None:
    assert_prediction(predict(stack, reference_payload()), reference_model.scores([reference_payload()])[0])


# -- scores ----------------------------------------------------------------------------------------------------------


def test_the_reference_customer_scores_what_xgboost_itself_predicts(
    stack: Stack, reference_model: ReferenceModel
) -> None:
    expected = reference_model.scores([reference_payload()])[0]

    reply = predict(stack, reference_payload())

    assert_prediction(reply, expected)
    assert reply.headers["Content-Type"] == "application/json"


def test_held_out_customers_score_what_xgboost_itself_predicts(
    stack: Stack, reference_model: ReferenceModel, held_out_payloads: list[dict[str, str]]
) -> None:
    step = max(1, len(held_out_payloads) // HELD_OUT_SAMPLE)
    sample = held_out_payloads[::step][:HELD_OUT_SAMPLE]
    expected = reference_model.scores(sample)

    scores = []
    for payload in sample:
        reply = predict(stack, payload)
        assert reply.status == 200, reply.body
        scores.append(reply.json()["score"])

    assert len(sample) >= 300
    assert scores == pytest.approx(expected, abs=1e-6)
    # The sample holds both outcomes, so the threshold is exercised both ways.
    assert {s > THRESHOLD for s in scores} == {True, False}


def test_the_order_of_the_json_keys_does_not_change_the_score(
    stack: Stack, reference_model: ReferenceModel, held_out_payloads: list[dict[str, str]]
) -> None:
    rng = random.Random(7)
    for payload in [reference_payload(), *held_out_payloads[:5]]:
        keys = list(payload)
        rng.shuffle(keys)
        shuffled = {k: payload[k] for k in keys}
        assert list(shuffled) != list(payload)

        assert predict(stack, shuffled).json()["score"] == predict(stack, payload).json()["score"]
        assert_prediction(predict(stack, shuffled), reference_model.scores([payload])[0])


def test_numbers_sent_as_json_numbers_score_like_numeric_strings(stack: Stack) -> None:
    as_strings = reference_payload()
    as_numbers: dict[str, Any] = {
        k: (v if k in ("State", "Phone", "Int'l Plan", "VMail Plan") else json.loads(v)) for k, v in as_strings.items()
    }

    assert predict(stack, as_numbers).json()["score"] == predict(stack, as_strings).json()["score"]


def test_fifty_concurrent_requests_each_get_their_own_customers_score(
    stack: Stack, reference_model: ReferenceModel, held_out_payloads: list[dict[str, str]]
) -> None:
    payloads = held_out_payloads[-50:]
    expected = reference_model.scores(payloads)

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(lambda p: predict(stack, p), payloads))

    assert [r.status for r in replies] == [200] * 50
    assert [r.json()["score"] for r in replies] == pytest.approx(expected, abs=1e-6)
    assert len({r.headers["x-amzn-RequestId"] for r in replies}) == 50


# -- errors ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["api-predict-unknown-state", "api-predict-missing-field", "api-predict-non-numeric"])
def test_the_error_events_are_answered_400_naming_what_differs_from_the_reference_and_the_stack_keeps_serving(
    stack: Stack, reference_model: ReferenceModel, event: str
) -> None:
    body = load_event(event)["body"]
    sent, reference = json.loads(body), reference_payload()
    differing = {k for k in reference if sent.get(k) != reference[k]}

    reply = predict(stack, body)

    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {d["field"] for d in error["details"]} == differing
    assert_still_serving(stack, reference_model)


def test_the_malformed_json_event_is_answered_400_about_the_body(stack: Stack, reference_model: ReferenceModel) -> None:
    reply = predict(stack, load_event("api-predict-malformed-json")["body"])

    assert reply.status == 400, reply.body
    assert reply.json()["error"]["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in reply.json()["error"]["details"]] == ["body"]
    assert_still_serving(stack, reference_model)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"State": "XX"}, "State"),
        ({"Area Code": "999"}, "Area Code"),
        ({"Int'l Plan": "maybe"}, "Int'l Plan"),
        ({"Day Mins": "abc"}, "Day Mins"),
        ({"Day Calls": "-4"}, "Day Calls"),
        ({"Night Calls": True}, "Night Calls"),
        ({"Eve Mins": None}, "Eve Mins"),
    ],
)
def test_a_bad_value_is_answered_400_naming_the_field(
    stack: Stack, reference_model: ReferenceModel, change: dict[str, Any], field: str
) -> None:
    reply = predict(stack, {**reference_payload(), **change})

    assert reply.status == 400, reply.body
    assert [d["field"] for d in reply.json()["error"]["details"]] == [field]
    assert_still_serving(stack, reference_model)


def test_a_missing_field_is_answered_400_saying_it_is_required(stack: Stack) -> None:
    payload = reference_payload()
    del payload["CustServ Calls"]

    reply = predict(stack, payload)

    assert reply.status == 400
    assert reply.json()["error"]["details"] == [{"field": "CustServ Calls", "problem": "is required"}]


@pytest.mark.parametrize("body", ["", "[]", "[1, 2]", '"text"', "{not json", "null"])
def test_a_body_that_is_not_a_customer_object_is_answered_400_json(
    stack: Stack, reference_model: ReferenceModel, body: str
) -> None:
    reply = predict(stack, body)

    assert reply.status == 400, reply.body
    assert reply.json()["error"]["code"] == "VALIDATION_ERROR"
    assert_still_serving(stack, reference_model)


@pytest.mark.parametrize(("method", "path"), [("POST", "/nope"), ("GET", "/predict"), ("DELETE", "/predict")])
def test_a_route_the_template_does_not_declare_is_answered_403_like_api_gateway(
    stack: Stack, reference_model: ReferenceModel, method: str, path: str
) -> None:
    reply = send(method, f"{stack.api_url}{path}", "{}" if method == "POST" else None)

    assert reply.status == 403
    assert reply.json() == {"message": "Missing Authentication Token"}
    assert_still_serving(stack, reference_model)


def test_every_answer_carries_api_gateways_request_and_trace_ids(stack: Stack) -> None:
    replies = [predict(stack, reference_payload()), send("POST", f"{stack.api_url}/nope", "{}")]

    for reply in replies:
        assert reply.headers["x-amzn-RequestId"]
        assert reply.headers["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert replies[0].headers["x-amzn-RequestId"] != replies[1].headers["x-amzn-RequestId"]
