"""churn_api.drift: the bins, the population stability index and the baseline document, as both checks use them."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn_api.drift import (
    Baseline,
    BaselineError,
    Binned,
    baseline_of,
    categorical,
    category_counts,
    decile_edges,
    drifted,
    numeric,
    numeric_counts,
    psi,
)


def test_psi_is_the_sum_of_share_differences_times_their_log_ratio_with_half_a_count_smoothing() -> None:
    expected, actual = [10, 30, 60], [30, 30, 40]
    e = [(c + 0.5) / 101.5 for c in expected]
    a = [(c + 0.5) / 101.5 for c in actual]
    assert psi(expected, actual) == pytest.approx(sum((y - x) * math.log(y / x) for x, y in zip(e, a, strict=True)))


@given(st.lists(st.integers(0, 1000), min_size=2, max_size=30))
def test_psi_is_zero_for_the_same_shares_and_never_negative(counts: list[int]) -> None:
    assert psi(counts, counts) == pytest.approx(0, abs=1e-12)
    assert psi(counts, [c * 3 for c in counts]) >= -1e-12
    assert psi(counts, list(reversed(counts))) >= -1e-12


def test_an_empty_bin_costs_a_bounded_amount() -> None:
    assert 0.2 < psi([100, 100], [200, 0]) < 5


def test_numbers_fall_in_the_bin_their_edges_close_on_the_right() -> None:
    assert numeric_counts([-5, 1, 1.5, 2, 2.01, 100], [1, 2]) == [2, 2, 2]


def test_the_deciles_of_a_discrete_number_merge_repeated_edges() -> None:
    values = [0] * 70 + [1] * 20 + [2] * 10
    edges = decile_edges(values)
    assert edges == sorted(set(edges)) and len(edges) < 9  # the six deciles at 0 are one edge
    binned = numeric(values)
    assert sum(binned.counts) == 100 and len(binned.counts) == len(binned.edges or []) + 1


def test_categories_are_compared_as_text_and_unseen_ones_fall_in_the_other_bin() -> None:
    assert category_counts([415, "415", "510", "XX", None], ["415", "510"]) == [2, 1, 2]
    assert categorical(["b", "a", "a"]) == Binned([2, 1, 0], categories=["a", "b"])


def test_the_baseline_document_round_trips_and_is_stable() -> None:
    baseline = baseline_of({"Day Mins": [float(i) for i in range(100)]}, {"State": ["SC", "KS"] * 50}, [0.1] * 100)
    data = baseline.to_bytes()
    assert Baseline.from_bytes(data) == baseline
    assert (
        baseline_of({"Day Mins": [float(i) for i in range(100)]}, {"State": ["SC", "KS"] * 50}, [0.1] * 100).to_bytes()
        == data
    )
    report = baseline.stability({"Day Mins": [float(i) for i in range(100)], "State": ["SC"] * 100}, [0.1] * 100)
    assert report["Day Mins"] == pytest.approx(0, abs=1e-12) and report["score"] == pytest.approx(0, abs=1e-12)
    assert drifted(report) == ["State"]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(format=2),
        lambda d: d["features"]["State"]["counts"].append(1),
        lambda d: d["features"]["Day Mins"]["edges"].pop(),
        lambda d: d.pop("score"),
    ],
)
def test_a_baseline_of_another_format_or_shape_is_refused(change: object) -> None:
    document = json.loads(baseline_of({"Day Mins": [float(i) for i in range(50)]}, {"State": ["SC"]}, [0.5]).to_bytes())
    change(document)  # type: ignore[operator]
    with pytest.raises(BaselineError):
        Baseline.from_bytes(json.dumps(document).encode())


def test_drifted_names_those_over_the_level_the_largest_first() -> None:
    assert drifted({"a": 0.3, "b": 0.1, "score": 0.9}, 0.2) == ["score", "a"]
