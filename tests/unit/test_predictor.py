"""Batches are split into endpoint-sized chunks, sent concurrently, and answered in input order."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from churn_api.budget import Deadline
from churn_api.endpoint import EndpointScorer
from churn_api.errors import InvalidRequest, ModelError
from churn_api.models import Customer
from churn_api.predictor import ChurnPredictor, chunk
from churn_api.preprocessing import Transformation
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.training.dataset import NUM_COLS


@given(st.lists(st.integers(min_value=1, max_value=100), max_size=200), st.integers(1, 20), st.integers(101, 1000))
def test_chunks_cover_every_row_in_order_within_both_limits(sizes: list[int], max_rows: int, max_bytes: int) -> None:
    chunks = chunk(sizes, max_rows, max_bytes)
    assert [i for c in chunks for i in c] == list(range(len(sizes)))
    for c in chunks:
        assert 1 <= len(c) <= max_rows
        assert sum(sizes[i] + 1 for i in c) <= max_bytes


@given(st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=200), st.integers(1, 20))
def test_a_chunk_is_only_cut_when_the_next_row_would_break_a_limit(sizes: list[int], max_rows: int) -> None:
    max_bytes = 1_000
    chunks = chunk(sizes, max_rows, max_bytes)
    for current, following in zip(chunks, chunks[1:], strict=False):
        grown = [*current, following.start]
        assert len(grown) > max_rows or sum(sizes[i] + 1 for i in grown) > max_bytes


def test_a_row_larger_than_the_request_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="row 1 alone"):
        chunk([10, 2_000], max_rows=5, max_bytes=1_000)


class StoreOf:
    """A TransformationStore that already holds its transformation."""

    def __init__(self, transformation: Transformation) -> None:
        self.transformation = transformation

    def get(self, deadline: Deadline) -> Transformation:
        return self.transformation


class CountingRuntime:
    """A sagemaker-runtime stand-in: one score per CSV row (from its first value), recording calls."""

    def __init__(self, delay: float = 0.05, fail_on_call: int | None = None, fail_fast: bool = False) -> None:
        self.fail_fast = fail_fast
        self.calls: list[list[str]] = []
        self.active = 0
        self.max_active = 0
        self.delay = delay
        self.fail_on_call = fail_on_call
        self._lock = threading.Lock()

    def invoke_endpoint(self, *, EndpointName: str, ContentType: str, Body: bytes) -> dict[str, Any]:  # noqa: N803
        rows = Body.decode().split("\n")
        with self._lock:
            self.calls.append(rows)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            number = len(self.calls)
        if not (self.fail_fast and number == self.fail_on_call):
            time.sleep(self.delay)  # hold the call open so that concurrent chunks overlap
        with self._lock:
            self.active -= 1
        if number == self.fail_on_call:
            raise ClientError({"Error": {"Code": "ModelError", "Message": "boom"}}, "InvokeEndpoint")
        return {"Body": io.BytesIO("\n".join(score_of(r) for r in rows).encode())}


def score_of(csv_row: str) -> str:
    """A deterministic score in [0, 1] that depends on the row's scaled Account Length."""
    account_length_scaled = float(csv_row.split(",")[-len(NUM_COLS)])
    return repr(min(1.0, max(0.0, 0.5 + account_length_scaled / 10)))


def customers(n: int) -> list[Customer]:
    return [Customer.model_validate({**reference_payload(), "Account Length": str(i + 1)}) for i in range(n)]


def predictor_for(transformation: Transformation, runtime: CountingRuntime, chunk_rows: int) -> ChurnPredictor:
    return ChurnPredictor(
        StoreOf(transformation),  # type: ignore[arg-type]
        EndpointScorer(runtime, "churn-xgboost"),
        0.39,
        chunk_rows=chunk_rows,
    )


def payloads(n: int) -> list[dict[str, str]]:
    return [{**reference_payload(), "Account Length": str(i + 1)} for i in range(n)]


def test_a_batch_is_sent_in_concurrent_chunks_and_answered_in_input_order(transformation: Transformation) -> None:
    runtime = CountingRuntime()
    answer = predictor_for(transformation, runtime, chunk_rows=3).score_batch(payloads(10), Deadline.after(5))
    assert sorted(len(c) for c in runtime.calls) == [1, 3, 3, 3]
    assert runtime.max_active > 1
    expected = [float(score_of(line)) for line in transformation.to_csv(customers(10)).split("\n")]
    assert [r.index for r in answer.results] == list(range(10))
    assert [r.score for r in answer.results] == expected
    assert expected == sorted(expected)  # Account Length grows with the index, and so does this score
    assert (answer.scored, answer.failed, answer.threshold) == (10, 0, 0.39)


def test_bad_records_are_reported_by_index_and_the_good_ones_still_scored(transformation: Transformation) -> None:
    runtime = CountingRuntime(delay=0)
    good = payloads(3)
    unknown_state = {**reference_payload(), "State": "XX"}
    missing = {k: v for k, v in reference_payload().items() if k != "Day Mins"}
    answer = predictor_for(transformation, runtime, chunk_rows=250).score_batch(
        [good[0], missing, unknown_state, good[1], good[2]], Deadline.after(5)
    )
    assert [r.error is None for r in answer.results] == [True, False, False, True, True]
    errors = [r.error for r in answer.results if r.error]
    assert [(d.field, d.index) for e in errors for d in e.details] == [("Day Mins", 1), ("State", 2)]
    assert (answer.scored, answer.failed) == (3, 2)
    assert len(runtime.calls) == 1
    assert runtime.calls[0] == transformation.to_csv(customers(3)).split("\n")


def test_a_batch_without_one_valid_record_is_a_400_listing_every_problem(transformation: Transformation) -> None:
    runtime = CountingRuntime(delay=0)
    with pytest.raises(InvalidRequest) as caught:
        predictor_for(transformation, runtime, chunk_rows=250).score_batch(
            [{"State": "SC"}, {**reference_payload(), "State": "XX"}], Deadline.after(5)
        )
    assert {d.index for d in caught.value.details} == {0, 1}
    assert runtime.calls == []


def test_the_problems_of_a_batch_without_one_valid_record_come_in_input_order(transformation: Transformation) -> None:
    # GIVEN unknown categories before and after a record that is not a customer at all
    unknown_state = {**reference_payload(), "State": "XX"}
    unknown_plan = {**reference_payload(), "Int'l Plan": "maybe"}
    missing = {k: v for k, v in reference_payload().items() if k != "Day Mins"}
    # WHEN the batch is scored
    with pytest.raises(InvalidRequest) as caught:
        predictor_for(transformation, CountingRuntime(delay=0), chunk_rows=250).score_batch(
            [unknown_state, missing, unknown_plan], Deadline.after(5)
        )
    # THEN every problem is listed, in the order of the records
    assert [(d.index, d.field) for d in caught.value.details] == [(0, "State"), (1, "Day Mins"), (2, "Int'l Plan")]


def test_a_failing_chunk_fails_the_whole_batch_with_its_error(transformation: Transformation) -> None:
    runtime = CountingRuntime(delay=0, fail_on_call=2)
    with pytest.raises(ModelError):
        predictor_for(transformation, runtime, chunk_rows=2).score_batch(payloads(6), Deadline.after(5))


def test_the_first_failing_chunk_answers_without_waiting_for_the_slow_ones(transformation: Transformation) -> None:
    runtime = CountingRuntime(delay=1.0, fail_on_call=1, fail_fast=True)
    started = time.monotonic()
    with pytest.raises(ModelError):
        predictor_for(transformation, runtime, chunk_rows=2).score_batch(payloads(6), Deadline.after(5))
    assert time.monotonic() - started < 0.8


def test_one_customer_is_scored_with_the_threshold(transformation: Transformation) -> None:
    prediction = predictor_for(transformation, CountingRuntime(delay=0), chunk_rows=250).predict_one(
        customers(1)[0], Deadline.after(5)
    )
    assert prediction.threshold == 0.39
    assert prediction.churn is (prediction.score > 0.39)


def test_the_endpoint_latency_of_every_chunk_is_reported(transformation: Transformation) -> None:
    seen: list[float] = []
    predictor = predictor_for(transformation, CountingRuntime(delay=0.01), chunk_rows=2)
    predictor.on_endpoint_latency = seen.append
    predictor.score_batch(payloads(5), Deadline.after(5))
    assert len(seen) == 3
    assert all(ms >= 10 for ms in seen)


class VariantRuntime(CountingRuntime):
    """A runtime whose answers name a production variant: one for all, or alternating per call."""

    def __init__(self, variants: list[str]) -> None:
        super().__init__(delay=0)
        self.variants = variants

    def invoke_endpoint(self, *, EndpointName: str, ContentType: str, Body: bytes) -> dict[str, Any]:  # noqa: N803
        answer = super().invoke_endpoint(EndpointName=EndpointName, ContentType=ContentType, Body=Body)
        first = int(float(Body.decode().split("\n")[0].split(",")[-len(NUM_COLS)]) > 0)  # which chunk: by its rows
        return {**answer, "InvokedProductionVariant": self.variants[first % len(self.variants)]}


def test_one_variant_is_named_by_the_batchs_model_and_several_by_each_record(transformation: Transformation) -> None:
    # GIVEN 10 customers in chunks of 5: the first chunk's Account Lengths scale below 0, the second's above
    one = ChurnPredictor(StoreOf(transformation), EndpointScorer(VariantRuntime(["A"]), "e"), 0.39, chunk_rows=5)  # type: ignore[arg-type]
    answer = one.score_batch(payloads(10), Deadline.after(5))
    assert answer.model.variant == "A" and all(r.variant is None for r in answer.results)
    many = ChurnPredictor(StoreOf(transformation), EndpointScorer(VariantRuntime(["A", "B"]), "e"), 0.39, chunk_rows=5)  # type: ignore[arg-type]
    lengths = [{**reference_payload(), "Account Length": str(n)} for n in (1, 2, 3, 4, 5, 500, 501, 502, 503, 504)]
    answer = many.score_batch(lengths, Deadline.after(5))
    assert answer.model.variant is None
    assert [r.variant for r in answer.results] == ["A"] * 5 + ["B"] * 5
    prediction = one.predict_one(customers(1)[0], Deadline.after(5))
    assert (prediction.model.variant, prediction.model.threshold) == ("A", 0.39)


def test_an_error_after_the_request_reached_the_model_names_the_model(transformation: Transformation) -> None:
    predictor = ChurnPredictor(
        StoreOf(transformation),  # type: ignore[arg-type]
        EndpointScorer(CountingRuntime(delay=0, fail_on_call=1), "e"),
        0.39,
        version="0123456789abcdef",
    )
    with pytest.raises(ModelError) as failed:
        predictor.predict_one(customers(1)[0], Deadline.after(5))
    assert failed.value.model == predictor.model and failed.value.body()["model"]["version"] == "0123456789abcdef"
    with pytest.raises(InvalidRequest) as refused:
        predictor.predict_one(Customer.model_validate({**reference_payload(), "State": "XX"}), Deadline.after(5))
    assert refused.value.model == predictor.model


def test_what_is_scored_is_handed_to_the_sampler_with_its_scores(transformation: Transformation) -> None:
    seen: list[tuple[int, list[float], str]] = []
    predictor = ChurnPredictor(
        StoreOf(transformation),  # type: ignore[arg-type]
        EndpointScorer(CountingRuntime(delay=0), "e"),
        0.39,
        chunk_rows=3,
        version="0123456789abcdef",
        on_scored=lambda c, s, m: seen.append((len(c), list(s), m.version)),
    )
    answer = predictor.score_batch(payloads(7), Deadline.after(5))
    assert seen == [(7, [r.score for r in answer.results], "0123456789abcdef")]
