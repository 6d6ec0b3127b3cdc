"""The rules written once in churn_api.rules: what a probability is, and who churns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from churn_api.rules import are_probabilities, churns, is_probability


@pytest.mark.parametrize("value", [0.0, -0.0, 0.39, 1.0])
def test_a_number_from_0_to_1_is_a_probability(value: float) -> None:
    assert is_probability(value)


@pytest.mark.parametrize("value", [-1e-12, 1.0000001, math.nan, math.inf, -math.inf])
def test_anything_else_is_not(value: float) -> None:
    assert not is_probability(value)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], True),
        ([0.0, 0.5, 1.0], True),
        ([0.5, math.nan, 0.2], False),  # min and max alone would pass over it
        ([0.5, 0.2, math.inf], False),
        ([0.5, -0.1], False),
        ([1.5], False),
    ],
)
def test_a_list_holds_probabilities_only_when_each_value_is_one(scores: list[float], expected: bool) -> None:
    assert are_probabilities(scores) is expected
    assert are_probabilities(scores) is all(map(is_probability, scores))


def test_a_customer_churns_when_the_score_is_above_the_threshold_for_floats_and_arrays_alike() -> None:
    scores = [0.0, 0.39, 0.3900001, 1.0]
    decided = churns(np.array(scores), 0.39)
    assert decided.tolist() == [churns(s, 0.39) for s in scores] == [False, False, True, True]
