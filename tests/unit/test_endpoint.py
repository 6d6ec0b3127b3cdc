"""Endpoint answers come in several shapes; each must yield exactly one score per row sent."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn_api.endpoint import parse_scores
from churn_api.errors import ModelBadResponse

probabilities = st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=50)


def test_a_single_number_is_one_score() -> None:
    assert parse_scores(b"0.7310585975646973", expected=1) == [0.7310585975646973]


@pytest.mark.parametrize(
    "body",
    [b"0.1,0.9,0.5", b"0.1\n0.9\n0.5\n", b"0.1\r\n0.9\r\n0.5", b" 0.1, 0.9 ,0.5 ", b"0.1,\n0.9,\n0.5"],
    ids=["commas", "newlines", "crlf", "spaces", "both"],
)
def test_comma_and_newline_separated_scores_are_read_in_order(body: bytes) -> None:
    assert parse_scores(body, expected=3) == [0.1, 0.9, 0.5]


def test_the_json_predictions_form_is_read_in_order() -> None:
    body = json.dumps({"predictions": [{"score": 0.2}, {"score": 0.8}]}).encode()
    assert parse_scores(body, expected=2) == [0.2, 0.8]


def test_a_json_list_of_numbers_is_read_in_order() -> None:
    assert parse_scores("[0.25, 0.75]", expected=2) == [0.25, 0.75]


@given(probabilities, st.sampled_from([",", "\n", "csv-trailing-newline", "json"]))
def test_any_probabilities_survive_every_response_shape(scores: list[float], shape: str) -> None:
    if shape == "json":
        body = json.dumps({"predictions": [{"score": s} for s in scores]})
    elif shape == "csv-trailing-newline":
        body = "\n".join(repr(s) for s in scores) + "\n"
    else:
        body = shape.join(repr(s) for s in scores)
    assert parse_scores(body.encode(), expected=len(scores)) == scores


@pytest.mark.parametrize(
    ("body", "expected", "reason"),
    [
        (b"", 1, "empty"),
        (b"   \n", 1, "empty"),
        (b"0.1,0.2", 1, "2 scores for 1 rows"),
        (b"0.1", 2, "1 scores for 2 rows"),
        (b"1.5", 1, "outside"),
        (b"-0.1", 1, "outside"),
        (b"nan", 1, "outside"),
        (b"<html>busy</html>", 1, "not a list of scores"),
        (b'{"predictions": [{"probability": 0.3}]}', 1, "not a list of scores"),
        (b'{"scores": [0.3]}', 1, "not a list of scores"),
        (b'"0.3"', 1, "not a list of scores"),
    ],
)
def test_an_unusable_answer_is_a_bad_model_response(body: bytes, expected: int, reason: str) -> None:
    with pytest.raises(ModelBadResponse) as caught:
        parse_scores(body, expected=expected)
    assert caught.value.status == 502
    assert caught.value.code == "MODEL_BAD_RESPONSE"
    assert reason in caught.value.internal  # logged for the operator; the client reads a fixed message


@pytest.mark.parametrize(
    "body",
    [b"[true]", b"[false, 0.5]", b'{"predictions": [{"score": false}]}', b'{"predictions": [true]}'],
)
def test_a_boolean_is_not_a_probability(body: bytes) -> None:
    with pytest.raises(ModelBadResponse, match="one score per customer") as caught:
        parse_scores(body, expected=body.count(b",") + 1)
    assert "not a list of scores" in caught.value.internal


@pytest.mark.parametrize("body", [b"0.5\xff", "0.5".encode("utf-16"), b"\xc3\x28"])
def test_an_answer_that_is_not_utf8_is_a_bad_model_response_not_the_clients_fault(body: bytes) -> None:
    with pytest.raises(ModelBadResponse) as caught:
        parse_scores(body, expected=1)
    assert (caught.value.status, caught.value.internal) == (502, "the endpoint's answer is not UTF-8")


def test_deeply_nested_json_from_the_endpoint_is_a_bad_model_response() -> None:
    with pytest.raises(ModelBadResponse):
        parse_scores(b"[" * 100_000 + b"]" * 100_000, expected=1)
